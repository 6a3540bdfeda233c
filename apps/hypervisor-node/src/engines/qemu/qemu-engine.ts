// Runs one QEMU process per VM: daemonized (so VMs outlive the agent), QMP and VNC on unix
// sockets in the VM's folder, disk as a qcow2 overlay on the template's base image.
import { closeSync, existsSync, fsyncSync, openSync, readFileSync, renameSync, rmSync } from "node:fs";
import { join } from "node:path";
import { runCommand } from "../../lib/run-command.ts";
import { readManifest } from "../image-manifest.ts";
import { checkSocketPaths, EngineError, pidOfVm, waitGone, type Engine, type EngineVmSpec, type VmHandle, type VmPaths } from "../engine.ts";
import { QmpClient } from "./qmp-client.ts";

export interface QemuEngineOptions { qemuBinary: string; qemuImgBinary: string; imageDir: string; accel: "kvm" | "tcg" }

class QmpHandle implements VmHandle {
  private shutdownByGuest = false;
  constructor(readonly qmp: QmpClient) {
    qmp.on("event", (ev) => {
      if (ev.event === "SHUTDOWN" && ev.data?.guest === true) this.shutdownByGuest = true;
    });
  }
  get isClosed() { return this.qmp.isClosed; }
  onExit(cb: (reason: string) => void) {
    this.qmp.once("close", () => cb(this.shutdownByGuest ? "The guest powered off" : "QEMU exited unexpectedly (see engine.log on the node)"));
  }
  close() { this.qmp.close(); }
}

export class QemuEngine implements Engine {
  readonly kind = "qemu" as const;
  constructor(private readonly opts: QemuEngineOptions) {}

  get accel() {
    return this.opts.accel;
  }

  isPrepared(paths: VmPaths) {
    return existsSync(paths.disk);
  }

  /** Creates the VM's overlay disk; a half-written file never takes the final name. */
  async prepare(spec: EngineVmSpec, paths: VmPaths): Promise<void> {
    if (existsSync(paths.disk)) return;
    const m = readManifest(this.opts.imageDir, spec.image);
    if (!m.disk) throw new EngineError(`The template image "${spec.image}" has no disk`);
    const base = join(m.dir, m.disk);
    if (!existsSync(base)) throw new EngineError(`Cannot create the disk: the template's base image ${base} is missing`);
    const tmp = `${paths.disk}.tmp`;
    rmSync(tmp, { force: true });
    const r = await runCommand(this.opts.qemuImgBinary, ["create", "-q", "-f", "qcow2", "-F", "qcow2", "-b", base, tmp, `${spec.diskGiB}G`]).catch((e: Error) => {
      throw new EngineError(`Cannot create the disk: ${this.opts.qemuImgBinary}: ${e.message}`);
    });
    if (r.code !== 0) {
      rmSync(tmp, { force: true });
      throw new EngineError(`Cannot create the disk: ${r.stderr.trim() || `qemu-img exited with ${r.code}`}`);
    }
    renameSync(tmp, paths.disk);
  }

  args(spec: EngineVmSpec, paths: VmPaths): string[] {
    const m = readManifest(this.opts.imageDir, spec.image);
    if (!m.initrd) throw new EngineError(`The template image "${spec.image}" has no initrd`);
    checkSocketPaths(paths);
    return [
      "-name", `${spec.name},debug-threads=on`,
      "-machine", `pc,accel=${this.opts.accel}`,
      ...(this.opts.accel === "kvm" ? ["-cpu", "host"] : []),
      "-m", String(spec.memoryMiB),
      "-smp", String(spec.cpus),
      "-kernel", join(m.dir, m.kernel),
      "-initrd", join(m.dir, m.initrd),
      "-append", `${m.cmdline ?? ""} vdi.hostname=${spec.name}`,
      "-drive", `file=${paths.disk},if=virtio,format=qcow2,discard=unmap`,
      "-nic", `user,model=virtio-net-pci,mac=${spec.macAddress}`,
      "-smbios", `type=1,serial=${spec.id}`,
      "-vga", "std",
      "-display", "none",
      "-vnc", `unix:${paths.vncSock}`,
      "-qmp", `unix:${paths.controlSock},server=on,wait=off`,
      "-chardev", `file,id=serial0,path=${paths.serialLog},append=on`,
      "-serial", "chardev:serial0",
      "-D", paths.engineLog,
      "-pidfile", paths.pidFile,
      "-nodefaults", "-no-user-config",
      "-daemonize",
    ];
  }

  /** Starts QEMU; resolves once it has daemonized (its start-up errors come back as EngineError). */
  async start(spec: EngineVmSpec, paths: VmPaths, restoreDir?: string, incoming?: string): Promise<void> {
    if (restoreDir) throw new EngineError("Snapshots of QEMU VMs are not supported yet");
    for (const p of [paths.controlSock, paths.vncSock, paths.pidFile]) rmSync(p, { force: true });
    const args = [...this.args(spec, paths), ...(incoming ? ["-incoming", `exec:cat ${incoming}`] : [])];
    const r = await runCommand(this.opts.qemuBinary, args, 60_000).catch((e: NodeJS.ErrnoException) => {
      throw new EngineError(e.code === "ENOENT" ? `QEMU is not installed on this node (${this.opts.qemuBinary} not found)` : `Cannot run QEMU: ${e.message}`);
    });
    if (r.code !== 0) throw new EngineError(`QEMU failed to start: ${r.stderr.trim().split("\n").slice(-3).join(" ") || `exit ${r.code}`}`);
  }

  runningPid(paths: VmPaths): number | null {
    return pidOfVm(paths, (p) => readFileSync(p, "utf8"));
  }

  async attach(paths: VmPaths): Promise<VmHandle> {
    return new QmpHandle(await QmpClient.connect(paths.controlSock));
  }

  /** Powers the VM off: QMP quit, then SIGKILL if it lingers. */
  async stop(paths: VmPaths, handle: VmHandle | null): Promise<void> {
    const pid = this.runningPid(paths);
    if (pid === null) return;
    const qmp = handle instanceof QmpHandle && !handle.isClosed ? handle.qmp : null;
    if (qmp) await qmp.execute("quit").catch(() => undefined);
    else process.kill(pid, "SIGTERM");
    if (!(await waitGone(() => this.runningPid(paths) !== null, 5000))) {
      try { process.kill(pid, "SIGKILL"); } catch { /* already gone */ }
    }
  }

  private qmpOf(handle: VmHandle): QmpClient {
    if (!(handle instanceof QmpHandle) || handle.isClosed) throw new EngineError("QEMU is not reachable over QMP");
    return handle.qmp;
  }
  async pause(handle: VmHandle) { await this.qmpOf(handle).execute("stop"); }
  async resume(handle: VmHandle) { await this.qmpOf(handle).execute("cont"); }
  async isPaused(handle: VmHandle) {
    const s = await this.qmpOf(handle).execute<{ status: string }>("query-status");
    return s.status === "paused";
  }

  /** Migrates the VM into a file (QEMU's own state format), then quits. */
  async save(paths: VmPaths, handle: VmHandle): Promise<void> {
    const qmp = this.qmpOf(handle);
    const tmp = `${paths.saved}.tmp`;
    rmSync(tmp, { force: true });
    if (/[^\w/.-]/.test(tmp)) throw new EngineError(`Cannot save to ${tmp}: unusual characters in the path`);
    await qmp.execute("migrate", { uri: `exec:cat > ${tmp}` });
    for (const end = Date.now() + 120_000; ; ) {
      const st = await qmp.execute<{ status?: string; "error-desc"?: string }>("query-migrate");
      if (st.status === "completed") break;
      if (st.status === "failed" || st.status === "cancelled") throw new EngineError(`Saving failed: ${st["error-desc"] ?? st.status}`);
      if (Date.now() > end) throw new EngineError("Saving took longer than 2 minutes");
      await new Promise((r) => setTimeout(r, 50));
    }
    // Complete on disk before it takes its name.
    const fd = openSync(tmp, "r");
    fsyncSync(fd);
    closeSync(fd);
    renameSync(tmp, paths.saved);
    await this.stop(paths, handle);
  }

  async startSaved(spec: EngineVmSpec, paths: VmPaths): Promise<void> {
    await this.start(spec, paths, undefined, paths.saved);
    // The guest runs once the incoming state is loaded.
    const qmp = await QmpClient.connect(paths.controlSock);
    try {
      for (const end = Date.now() + 60_000; ; ) {
        const st = await qmp.execute<{ status: string }>("query-status");
        if (st.status === "running" || st.status === "paused") break;
        if (st.status !== "inmigrate" || Date.now() > end) throw new EngineError(`QEMU did not resume the saved state (${st.status})`);
        await new Promise((r) => setTimeout(r, 50));
      }
    } finally {
      qmp.close();
    }
  }

  async snapshot(): Promise<number> {
    throw new EngineError("Snapshots of QEMU VMs are not supported yet");
  }

  async reboot(_spec: EngineVmSpec, _paths: VmPaths, handle: VmHandle | null): Promise<void> {
    if (!(handle instanceof QmpHandle) || handle.isClosed) throw new EngineError("QEMU is not reachable over QMP");
    await handle.qmp.execute("system_reset");
  }
}

export interface EngineProbe { available: boolean; version?: string; accel?: string; reason?: string }

/** What this host can run: QEMU present, its version, and whether KVM can really boot guests. */
export async function probeQemu(opts: { qemuBinary: string; qemuImgBinary: string; accel: "auto" | "kvm" | "tcg"; kvmUsable: boolean; kvmSoftware: boolean; kvmReason: string }): Promise<EngineProbe & { accel: "kvm" | "tcg" }> {
  const accel = opts.accel === "auto" ? (opts.kvmUsable && !opts.kvmSoftware ? "kvm" : "tcg") : opts.accel;
  for (const bin of [opts.qemuBinary, opts.qemuImgBinary]) {
    const r = await runCommand(bin, ["--version"], 10_000).catch(() => null);
    if (!r || r.code !== 0) return { available: false, accel, reason: `${bin} not found: install qemu-system-x86 and qemu-utils` };
  }
  const v = await runCommand(opts.qemuBinary, ["--version"]);
  const version = /version ([\d.]+)/.exec(v.stdout)?.[1] ?? "unknown";
  const reason = accel === "tcg" ? `TCG (software emulation): ${opts.accel === "tcg" ? "configured" : opts.kvmReason}` : "KVM";
  return { available: true, version, accel, reason };
}
