// Runs one QEMU process per VM: daemonized (so VMs outlive the agent), QMP and VNC on unix
// sockets in the VM's folder, disk as a qcow2 overlay on the template's base image.
import { existsSync, mkdirSync, readFileSync, renameSync, rmSync, statSync } from "node:fs";
import { basename, dirname, join } from "node:path";
import type { Nic } from "@vdi/node-protocol";
import type { GuestEgress } from "../../network/guest-egress.ts";
import { fsyncDir, fsyncFile, writeFileAtomic } from "@vdi/durable-file";
import { NO_FAULTS, type FaultPoints } from "../../lib/fault-points.ts";
import { runCommand } from "../../lib/run-command.ts";
import { killProcessesMentioning, processesMentioning, readPositionOf } from "../../lib/processes.ts";
import { readManifest } from "../image-manifest.ts";
import { assertNotRunning, checkSocketPaths, EngineError, hostProcesses, nicsOf, pidOfVm, waitGone, type Engine, type EngineVmSpec, type GracefulShutdown, type LiveDisk, type SnapshotOptions, type StopOutcome, type VmHandle, type VmPaths } from "../engine.ts";
import { Qcow2Storage } from "../../storage/qcow2/qcow2-storage.ts";
import { readSnapshotMeta, type SnapshotMeta } from "../../storage/qcow2/layers.ts";
import { QmpClient } from "./qmp-client.ts";
import { desktopArgs, desktopCredentials, desktopFiles, desktopOf, freeLoopbackPort, rdpForward, writeIdentity } from "./desktop.ts";
import type { RdpEndpoint } from "../../rdp/rdp-stream.ts";
import { EngineUsers, type EngineUser } from "../../lib/engine-users.ts";
import { engineMemoryLimit, type CgroupPlacement } from "../../lib/cgroups.ts";
import type { EngineSupervisor } from "../../lib/engine-supervisor.ts";

/** Names a step of the operation in progress (a fault point). */
type FaultStep = (step: string) => void;

/**
 * How each kind of network a card plugs into becomes QEMU arguments: one row per kind, so a new
 * network (a tenant bridge) is a row here, not an edit of the engine.
 */
interface NicContext {
  outbound: boolean;
  /** Ports of the guest forwarded to the node (QEMU hostfwd rules; only the first card takes them). */
  forwards: string[];
}
const NIC_BACKENDS: { [K in Nic["network"]["kind"]]: (nic: Nic & { network: { kind: K } }, ctx: NicContext) => string[] } = {
  user: (nic, ctx) => ["-nic", [userNetwork(nic.mac, ctx.outbound), ...ctx.forwards].join(",")],
};

function nicArgs(nic: Nic, ctx: NicContext): string[] {
  const backend = NIC_BACKENDS[nic.network.kind] as (n: Nic, c: NicContext) => string[];
  return backend(nic, ctx);
}

export interface QemuEngineOptions {
  qemuBinary: string; qemuImgBinary: string; imageDir: string; accel: "kvm" | "tcg";
  /** Where guests with outbound access run, made at the first such start (absent or unavailable: every guest runs restricted). */
  egress?: () => Promise<GuestEgress>;
  /** Test fault points at the steps of saves and snapshots (lib/fault-points.ts). */
  faults?: FaultPoints;
  /** Each VM's QEMU runs as a user of its own (absent: as the agent's user). */
  users?: EngineUsers;
  /** CPU and memory limits per VM (absent: none). */
  cgroups?: CgroupPlacement;
  /** Signals engines through pidfds (absent: by pid). */
  supervisor?: EngineSupervisor;
}

/**
 * QEMU's seccomp filter: no obsolete system calls, no changes of scheduling or CPU affinity.
 * (elevateprivileges=deny would also stop -runas's own setuid; QEMU sets no_new_privs either way.
 * spawn stays allowed: memory state is written through an `exec:` pipe.)
 */
export const QEMU_SANDBOX = "on,obsolete=deny,resourcecontrol=deny";

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

/** A running QEMU's disk, driven over QMP (the block device is always "disk0"). */
class QmpLiveDisk implements LiveDisk {
  constructor(private readonly qmp: QmpClient) {}
  async activeFile() {
    const blocks = await this.qmp.execute<{ device: string; inserted?: { file: string } }[]>("query-block");
    return blocks.find((b) => b.device === "disk0")?.inserted?.file ?? null;
  }
  async switchTo(next: string) {
    await this.qmp.execute("blockdev-snapshot-sync", { device: "disk0", "snapshot-file": next, format: "qcow2", mode: "absolute-paths" });
  }
  async stream(base: string, progress?: (p: number) => void) {
    // auto-dismiss off: a job that ends in error stays listed (status "concluded", with its error)
    // instead of vanishing like a finished one, so a failed merge is told apart from a done one.
    // The base is named by its node, not its path: QEMU would match a path by realpath(), as the
    // engine's own uid, and fails on a folder above the image that uid may not search.
    const nodes = await this.qmp.execute<{ "node-name": string; drv: string; file: string }[]>("query-named-block-nodes", { flat: true });
    const named = nodes.filter((n) => n.drv === "qcow2" && n.file === base);
    const at = named.length === 1 ? { "base-node": named[0]!["node-name"] } : { base };
    await this.qmp.execute("block-stream", { "job-id": "merge", device: "disk0", ...at, "auto-dismiss": false });
    for (const end = Date.now() + 600_000; ; ) {
      const jobs = await this.qmp.execute<{ id: string; status: string; "current-progress": number; "total-progress": number; error?: string }[]>("query-jobs");
      const job = jobs.find((j) => j.id === "merge");
      if (!job) throw new EngineError("The merge job vanished before it concluded");
      if (job.status === "concluded" || job.status === "null") {
        await this.qmp.execute("job-dismiss", { id: "merge" }).catch(() => undefined);
        if (job.error) throw new EngineError(`Merging the snapshot's layer failed: ${job.error}`);
        return;
      }
      if (job["total-progress"] > 0) progress?.(Math.min(99, 10 + Math.round((85 * job["current-progress"]) / job["total-progress"])));
      if (Date.now() > end) throw new EngineError("Merging the snapshot's layer took longer than 10 minutes");
      await new Promise((r) => setTimeout(r, 100));
    }
  }
  async resize(bytes: number) {
    await this.qmp.execute("block_resize", { device: "disk0", size: bytes });
  }
}

export class QemuEngine implements Engine {
  readonly kind = "qemu" as const;
  readonly storage: Qcow2Storage;
  constructor(private readonly opts: QemuEngineOptions) {
    this.storage = new Qcow2Storage({ qemuImgBinary: opts.qemuImgBinary, imageDir: opts.imageDir });
  }

  liveDisk(paths: VmPaths, handle: VmHandle | null): LiveDisk | null {
    if (this.runningPid(paths) === null) return null;
    return new QmpLiveDisk(this.qmpOf(handle!));
  }

  /** The fault points of one operation on one VM (inert outside fault-injection tests). */
  private faultsAt(kind: "save" | "snapshot", paths: VmPaths): FaultStep {
    const faults = this.opts.faults ?? NO_FAULTS;
    const target = { vmId: basename(paths.dir), enginePid: () => this.runningPid(paths) };
    return (step) => faults.hit(`${kind}:${step}`, target);
  }

  /** Where this template's guests run: the egress namespace when it asks for outbound access and the node can give it. */
  private async egressFor(m: { egress: "none" | "nat" }): Promise<GuestEgress | null> {
    if (m.egress !== "nat" || !this.opts.egress) return null;
    const egress = await this.opts.egress();
    return egress.available ? egress : null;
  }

  get accel() {
    return this.opts.accel;
  }

  args(spec: EngineVmSpec, paths: VmPaths, outbound = false, user: EngineUser | null = null, rdpHostPort: number | null = null): string[] {
    const m = readManifest(this.opts.imageDir, spec.image);
    if (!m.initrd) throw new EngineError(`The template image "${spec.image}" has no initrd`);
    checkSocketPaths(paths);
    const desktop = desktopOf(m);
    const forwards = desktop && rdpHostPort ? [rdpForward(desktop, rdpHostPort)] : [];
    return [
      "-name", `${spec.name},debug-threads=on`,
      "-machine", `pc,accel=${this.opts.accel}`,
      ...(this.opts.accel === "kvm" ? ["-cpu", "host"] : []),
      "-m", String(spec.memoryMiB),
      "-smp", String(spec.cpus),
      "-kernel", join(m.dir, m.kernel),
      "-initrd", join(m.dir, m.initrd),
      "-append", `${m.cmdline ?? ""} vdi.hostname=${spec.name}`,
      "-drive", `file=${this.storage.activeDisk(paths)},if=virtio,id=disk0,format=qcow2,discard=unmap`,
      ...nicsOf(spec).flatMap((nic, i) => nicArgs(nic, { outbound, forwards: i === 0 ? forwards : [] })),
      ...(desktop ? desktopArgs(desktop, desktopFiles(paths.dir)) : []),
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
      "-sandbox", QEMU_SANDBOX,
      ...(user ? ["-runas", `${user.uid}:${user.gid}`] : []),
      "-daemonize",
    ];
  }

  /** Starts QEMU; resolves once it has daemonized (its start-up errors come back as EngineError). */
  async start(spec: EngineVmSpec, paths: VmPaths, restoreDir?: string, incoming?: string): Promise<void> {
    if (restoreDir) throw new EngineError("QEMU VMs go back to a snapshot through revert()");
    assertNotRunning(paths);
    for (const p of [paths.controlSock, paths.vncSock, paths.pidFile]) rmSync(p, { force: true });
    const manifest = readManifest(this.opts.imageDir, spec.image);
    const egress = await this.egressFor(manifest);
    const rdpHostPort = await this.prepareDesktop(spec, paths, manifest, !!egress);
    // QEMU opens its files as root, then becomes the VM's user: what it makes later (layers, memory
    // state) goes into folders that user owns.
    const user = this.userOf(paths);
    EngineUsers.own(paths.dir, user);
    if (existsSync(join(paths.dir, "snapshots"))) EngineUsers.own(join(paths.dir, "snapshots"), user);
    // The active layer is the one file QEMU writes; it may reopen it as the VM's user (an incoming
    // state activates its disks after -runas). Frozen layers stay the agent's, read-only to QEMU.
    EngineUsers.giveFile(this.storage.activeDisk(paths), user);
    const args = [...this.args(spec, paths, !!egress, user, rdpHostPort), ...(incoming ? ["-incoming", `exec:cat ${incoming}`] : [])];
    const plain = egress ? egress.wrap([this.opts.qemuBinary, ...args]) : [this.opts.qemuBinary, ...args];
    const limits = { cpus: spec.cpus, memoryBytes: engineMemoryLimit(spec.memoryMiB, { tcg: this.opts.accel === "tcg" }) };
    const argv = this.opts.cgroups ? this.opts.cgroups.wrap(spec.id, limits, plain) : plain;
    const r = await runCommand(argv[0]!, argv.slice(1), 60_000).catch((e: NodeJS.ErrnoException) => {
      throw new EngineError(e.code === "ENOENT" ? `QEMU is not installed on this node (${this.opts.qemuBinary} not found)` : `Cannot run QEMU: ${e.message}`);
    });
    if (r.code !== 0) throw new EngineError(`QEMU failed to start: ${r.stderr.trim().split("\n").slice(-3).join(" ") || `exit ${r.code}`}`);
  }

  /**
   * A desktop's identity for this boot, and the loopback port its RDP port is forwarded to (null
   * without a desktop). A guest in the egress namespace gets no forward: that namespace's loopback
   * is what every outbound guest reaches as 10.0.2.2 (docs/rdp.md).
   */
  private async prepareDesktop(spec: EngineVmSpec, paths: VmPaths, m: object, outbound: boolean): Promise<number | null> {
    const desktop = desktopOf(m);
    if (!desktop) return null;
    const files = desktopFiles(paths.dir);
    writeIdentity(spec, files);
    rmSync(files.rdpPortFile, { force: true });
    if (outbound) return null;
    const port = await freeLoopbackPort();
    writeFileAtomic(files.rdpPortFile, `${port}\n`);
    return port;
  }

  rdpEndpoint(paths: VmPaths): RdpEndpoint | string {
    const files = desktopFiles(paths.dir);
    let port: number;
    try {
      port = Number.parseInt(readFileSync(files.rdpPortFile, "utf8").trim(), 10);
    } catch {
      return existsSync(files.identity) ? "this VM's RDP port is not reachable from the node (it has outbound network)" : "this VM's template offers no RDP";
    }
    if (!Number.isInteger(port) || port < 1 || port > 65535) return "this VM's RDP port record is unreadable";
    const creds = desktopCredentials(files);
    return { host: "127.0.0.1", port, user: creds.user, password: creds.password, dir: paths.dir, runAs: this.userOf(paths) };
  }

  runningPid(paths: VmPaths): number | null {
    return pidOfVm(paths, hostProcesses);
  }

  /** Signals the VM's engine through a pidfd (never a recycled pid), or by pid without the addon. */
  private kill(paths: VmPaths, pid: number, signal: NodeJS.Signals): void {
    if (this.opts.supervisor) this.opts.supervisor.signal(pid, paths.controlSock, signal);
    else try { process.kill(pid, signal); } catch { /* gone */ }
  }

  /** The user the VM's QEMU runs as (null: the agent's own). */
  userOf(paths: VmPaths): EngineUser | null {
    return this.opts.users?.forVm(paths.dir) ?? null;
  }

  async attach(paths: VmPaths): Promise<VmHandle> {
    return new QmpHandle(await QmpClient.connect(paths.controlSock));
  }

  /** Powers the VM off: QMP quit, then SIGKILL if it lingers. */
  shutdownGraceMs(spec: EngineVmSpec): number {
    try {
      return (desktopOf(readManifest(this.opts.imageDir, spec.image))?.shutdownGraceSec ?? 0) * 1000;
    } catch {
      return 0;
    }
  }

  async stop(paths: VmPaths, handle: VmHandle | null, shutdown?: GracefulShutdown): Promise<StopOutcome | void> {
    const pid = this.runningPid(paths);
    if (pid === null) return;
    const qmp = handle instanceof QmpHandle && !handle.isClosed ? handle.qmp : null;
    if (qmp && shutdown && shutdown.graceMs > 0 && !shutdown.abandon?.()) {
      // The ACPI power button: the guest shuts down as its own power button tells it (logind).
      // A paused guest cannot: it is let run for it.
      await qmp.execute("cont").catch(() => undefined);
      if (await qmp.execute("system_powerdown").then(() => true, () => false)) {
        const deadline = Date.now() + shutdown.graceMs;
        while (Date.now() < deadline && !shutdown.abandon?.()) {
          if (!(await waitGone(() => this.runningPid(paths) !== null, 250))) continue;
          this.opts.cgroups?.release(basename(paths.dir));
          return "guest";
        }
      }
    }
    if (qmp) await qmp.execute("quit").catch(() => undefined);
    else this.kill(paths, pid, "SIGTERM");
    if (!(await waitGone(() => this.runningPid(paths) !== null, 5000))) {
      this.kill(paths, pid, "SIGKILL");
    }
    this.opts.cgroups?.release(basename(paths.dir));
    return "forced";
  }

  private qmpOf(handle: VmHandle): QmpClient {
    if (!(handle instanceof QmpHandle) || handle.isClosed) throw new EngineError("QEMU is not reachable over QMP");
    return handle.qmp;
  }
  async pause(handle: VmHandle) { await this.qmpOf(handle).execute("stop"); }
  async resume(handle: VmHandle) { await this.qmpOf(handle).execute("cont"); }
  async isPaused(handle: VmHandle) {
    const s = await this.qmpOf(handle).execute<{ status: string }>("query-status");
    // postmigrate: a save or snapshot wrote the RAM and was interrupted before QEMU went on.
    return s.status === "paused" || s.status === "postmigrate";
  }

  /**
   * Migrates the RAM and device state into `file` while the VM is paused. QEMU writes into a pipe
   * (`exec:`), so "completed" only means QEMU has sent the last byte: the shell behind the pipe
   * writes `<file>.part`, fsyncs it and leaves a `.ok` marker only if both worked; only once that
   * shell has exited, and with the marker there, does the file take
   * its name. A stream cut short (QEMU killed, migration cancelled) stays a `.part` that cleanup
   * removes, so a file under the name `file` is always whole and durable.
   */
  private async migrateToFile(qmp: QmpClient, file: string, progress: ((p: number) => void) | undefined, at: FaultStep): Promise<void> {
    if (/[^\w/.-]/.test(file)) throw new EngineError(`Cannot write ${file}: unusual characters in the path`);
    const part = `${file}.part`;
    rmSync(file, { force: true });
    rmSync(part, { force: true });
    // QEMU caps migration at 128 MiB/s by default (meant for networks); a local file takes all it can.
    await qmp.execute("migrate-set-parameters", { "max-bandwidth": 64 * 1024 ** 3 });
    try {
      await this.streamState(qmp, part, progress, at);
      // QEMU says "completed" once the pipe took its last byte, even if `cat` then failed (a full
      // disk): only the shell's own marker says the file is whole and synced.
      if (!existsSync(`${part}.ok`)) throw new EngineError("Writing the memory state failed: the file could not be written whole (is the node's disk full?)");
    } catch (e) {
      killProcessesMentioning(part);
      rmSync(part, { force: true });
      throw e;
    } finally {
      rmSync(`${part}.ok`, { force: true });
    }
    fsyncFile(part);
    renameSync(part, file);
    fsyncDir(dirname(file));
  }

  private async streamState(qmp: QmpClient, part: string, progress: ((p: number) => void) | undefined, at: FaultStep): Promise<void> {
    await qmp.execute("migrate", { uri: `exec:cat > ${part} && sync ${part} && : > ${part}.ok` });
    let first = true;
    for (const end = Date.now() + 300_000; ; ) {
      const st = await qmp.execute<{ status?: string; "error-desc"?: string; ram?: { total: number; transferred: number } }>("query-migrate");
      if (first) { first = false; at("during-memory"); }
      if (st.status === "completed") break;
      if (st.status === "failed" || st.status === "cancelled") throw new EngineError(`Writing the memory state failed: ${st["error-desc"] ?? st.status}`);
      if (Date.now() > end) {
        await qmp.execute("migrate_cancel").catch(() => undefined);
        throw new EngineError("Writing the memory state took longer than 5 minutes");
      }
      if (st.ram && st.ram.total > 0) progress?.(Math.min(99, Math.round((100 * st.ram.transferred) / st.ram.total)));
      await new Promise((r) => setTimeout(r, 50));
    }
    if (!(await waitGone(() => processesMentioning(part).length > 0, 60_000))) {
      throw new EngineError("Writing the memory state failed: its file was not on disk within 60 s");
    }
  }

  /** Migrates the VM into a file (QEMU's own state format), then quits. */
  async save(paths: VmPaths, handle: VmHandle, progress?: (p: number) => void): Promise<void> {
    const qmp = this.qmpOf(handle);
    const at = this.faultsAt("save", paths);
    const tmp = `${paths.saved}.tmp`;
    await qmp.execute("stop");
    try {
      await this.migrateToFile(qmp, tmp, progress, at);
      at("after-write");
    } catch (e) {
      rmSync(tmp, { force: true });
      await qmp.execute("cont").catch(() => undefined);
      throw e;
    }
    // Complete on disk before it takes its name.
    renameSync(tmp, paths.saved);
    fsyncDir(paths.dir);
    await this.stop(paths, handle);
  }

  async startSaved(spec: EngineVmSpec, paths: VmPaths, progress?: (p: number) => void): Promise<void> {
    await this.start(spec, paths, undefined, paths.saved);
    await this.waitIncoming(paths, paths.saved, progress);
  }

  /** The guest runs once the incoming state is loaded; progress is how far QEMU has read the file. */
  private async waitIncoming(paths: VmPaths, file: string, progress?: (p: number) => void): Promise<void> {
    const size = statSync(file).size;
    const qmp = await QmpClient.connect(paths.controlSock);
    try {
      for (const end = Date.now() + 120_000; ; ) {
        const st = await qmp.execute<{ status: string }>("query-status");
        if (st.status === "running") break;
        // The state was written from a paused VM (we pause before writing it), and QEMU carries
        // the run state over: go on, as the user asked for a running VM.
        if (st.status === "paused") {
          await qmp.execute("cont");
          break;
        }
        if (st.status !== "inmigrate" || Date.now() > end) throw new EngineError(`QEMU did not resume the saved state (${st.status})`);
        const pos = progress && size > 0 ? readPositionOf(file) : null;
        if (pos !== null) progress!(Math.min(99, Math.round((100 * pos) / size)));
        await new Promise((r) => setTimeout(r, 50));
      }
    } finally {
      qmp.close();
    }
  }

  /**
   * A snapshot freezes the active layer (a new empty layer goes on top) and, with RAM, writes the
   * memory and device state. Running VMs pause for it: QEMU switches layers itself
   * (blockdev-snapshot-sync) so disk and RAM are from the same instant. The snapshot folder takes
   * its name last, so it exists only when complete.
   */
  async snapshot(paths: VmPaths, handle: VmHandle | null, dir: string, opts: SnapshotOptions): Promise<number> {
    const running = this.runningPid(paths) !== null;
    if (opts.withRam && !running) throw new EngineError("A snapshot with memory needs a running VM; stopped VMs get disk-only snapshots");
    const at = this.faultsAt("snapshot", paths);
    mkdirSync(join(paths.dir, "snapshots"), { recursive: true });
    if (existsSync(dir)) throw new EngineError("A snapshot with this id already exists on the node");
    const tmp = `${dir}.tmp`;
    rmSync(tmp, { recursive: true, force: true });
    mkdirSync(tmp);
    // QEMU (as the VM's user) writes the memory state in there.
    const user = this.userOf(paths);
    EngineUsers.own(join(paths.dir, "snapshots"), user);
    EngineUsers.own(tmp, user);
    let qmp: QmpClient | null = null;
    let wasRunning = false;
    try {
      let frozen: string;
      if (running) {
        qmp = this.qmpOf(handle!);
        wasRunning = (await qmp.execute<{ status: string }>("query-status")).status === "running";
        if (wasRunning) await qmp.execute("stop");
        frozen = await this.storage.freezeLayer(paths, new QmpLiveDisk(qmp));  // QEMU writes to the new layer from now on
        opts.progress(10);
        at("after-layer-switch");
        if (opts.withRam) await this.migrateToFile(qmp, join(tmp, "state.bin"), (p) => opts.progress(10 + Math.round(p * 0.85)), at);
        at("after-memory");
      } else {
        frozen = await this.storage.freezeLayer(paths, null);
        opts.progress(50);
        at("after-layer-switch");
      }
      const meta: SnapshotMeta = { layer: frozen, ram: opts.withRam, ...(opts.withRam && opts.size ? opts.size : {}) };
      writeFileAtomic(join(tmp, "meta.json"), JSON.stringify(meta));
      renameSync(tmp, dir);
      fsyncDir(join(paths.dir, "snapshots"));
    } catch (e) {
      rmSync(tmp, { recursive: true, force: true });
      throw e;
    } finally {
      if (qmp && wasRunning && !qmp.isClosed) await qmp.execute("cont").catch(() => undefined);
    }
    return this.storage.snapshotBytes(paths, dir);
  }

  /**
   * Puts a stopped VM back to a snapshot: a new empty layer on the snapshot's frozen layer becomes
   * the active one (the commit point); with RAM, QEMU then resumes the saved state on it.
   */
  /** Everything a revert needs, checked before the VM is stopped or its disk moves. */
  checkRevert(spec: EngineVmSpec, paths: VmPaths, dir: string): void {
    this.storage.checkRevertDisk(paths, dir);
    const meta = readSnapshotMeta(dir);
    if (meta.ram && !existsSync(join(dir, "state.bin"))) throw new EngineError("The snapshot's memory state is missing on this node");
    // QEMU loads a memory state only into a VM of the same size.
    if (meta.ram && meta.memoryMiB !== undefined && (meta.memoryMiB !== spec.memoryMiB || meta.cpus !== spec.cpus)) {
      throw new EngineError(`The snapshot was taken with ${meta.cpus} vCPU and ${meta.memoryMiB} MiB; the VM now has ${spec.cpus} vCPU and ${spec.memoryMiB} MiB: resize it back to go to this snapshot`);
    }
  }

  async revert(spec: EngineVmSpec, paths: VmPaths, dir: string, progress?: (p: number) => void): Promise<boolean> {
    if (this.runningPid(paths) !== null) throw new EngineError("The VM must be stopped before it goes back to a snapshot");
    this.checkRevert(spec, paths, dir);
    const meta = readSnapshotMeta(dir);
    await this.storage.revertDisk(spec, paths, dir);
    rmSync(paths.saved, { force: true });  // a saved state belonged to the old position
    await this.storage.collectGarbage(paths);
    if (!meta.ram) return false;
    await this.start(spec, paths, undefined, join(dir, "state.bin"));
    await this.waitIncoming(paths, join(dir, "state.bin"), progress);
    return true;
  }

  /** After a restart or a failed operation: a migration QEMU still runs is cancelled, half-written saved states go. */
  async cleanup(paths: VmPaths, handle: VmHandle | null): Promise<string[]> {
    if (!existsSync(paths.dir)) return [];
    const removed: string[] = [];
    if (handle && !handle.isClosed && this.runningPid(paths) !== null) {
      const qmp = this.qmpOf(handle);
      const mig = await qmp.execute<{ status?: string }>("query-migrate").catch(() => ({ status: undefined }));
      if (mig.status === "active" || mig.status === "setup") await qmp.execute("migrate_cancel").catch(() => undefined);
    }
    for (const f of ["saved.tmp", "saved.tmp.part", "saved.tmp.part.ok"]) {
      if (existsSync(join(paths.dir, f))) { rmSync(join(paths.dir, f), { force: true }); removed.push(f); }
    }
    return removed;
  }

  async reboot(_spec: EngineVmSpec, _paths: VmPaths, handle: VmHandle | null): Promise<void> {
    if (!(handle instanceof QmpHandle) || handle.isClosed) throw new EngineError("QEMU is not reachable over QMP");
    await handle.qmp.execute("system_reset");
  }
}

export interface EngineProbe { available: boolean; version?: string; accel?: string; reason?: string }

/**
 * QEMU's user network for one guest. Without outbound access: restrict=on, the guest reaches
 * nothing (10.0.2.2 would be the host's loopback: the node, the portal, PostgreSQL). With it, QEMU
 * runs in the node's egress namespace (guest-egress.ts), where that loopback is empty.
 */
export function userNetwork(mac: string, outbound: boolean): string {
  return `user,model=virtio-net-pci,mac=${mac}${outbound ? "" : ",restrict=on"}`;
}

/** What this host can run: QEMU present, its version, and whether KVM can really boot guests. */
export async function probeQemu(opts: { qemuBinary: string; qemuImgBinary: string; accel: "auto" | "kvm" | "tcg"; kvmUsable: boolean; kvmSoftware: boolean; kvmReason: string }): Promise<EngineProbe & { accel: "kvm" | "tcg" }> {
  const accel = opts.accel === "auto" ? (opts.kvmUsable && !opts.kvmSoftware ? "kvm" : "tcg") : opts.accel;
  // Asked for KVM where there is none (or it is hidden with VDI_KVM_DEVICE): every start would fail.
  if (accel === "kvm" && !opts.kvmUsable) return { available: false, accel, reason: `VDI_QEMU_ACCEL=kvm, but ${opts.kvmReason}` };
  for (const bin of [opts.qemuBinary, opts.qemuImgBinary]) {
    const r = await runCommand(bin, ["--version"], 10_000).catch(() => null);
    if (!r || r.code !== 0) return { available: false, accel, reason: `${bin} not found: install qemu-system-x86 and qemu-utils` };
  }
  const v = await runCommand(opts.qemuBinary, ["--version"]);
  const version = /version ([\d.]+)/.exec(v.stdout)?.[1] ?? "unknown";
  const reason = accel === "tcg" ? `TCG (software emulation): ${opts.accel === "tcg" ? "configured" : opts.kvmReason}` : "KVM";
  return { available: true, version, accel, reason };
}
