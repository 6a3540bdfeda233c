// Runs one QEMU process per VM: daemonized (so VMs outlive the agent), QMP and VNC on unix
// sockets in the VM's folder, disk as a qcow2 overlay on the template's base image.
import { existsSync, readFileSync, renameSync, rmSync, statSync } from "node:fs";
import { join } from "node:path";
import { z } from "zod";
import { runCommand } from "../../lib/run-command.ts";
import { QmpClient } from "./qmp-client.ts";

/** Unix socket paths are limited to 108 bytes (sun_path) including the terminator. */
const MAX_SOCKET_PATH = 107;

export const imageManifestSchema = z.object({
  name: z.string().regex(/^[a-z0-9-]{1,64}$/),
  title: z.string().max(200),
  kernel: z.string().regex(/^[\w.-]+$/),
  initrd: z.string().regex(/^[\w.-]+$/),
  disk: z.string().regex(/^[\w.-]+$/),
  cmdline: z.string().max(2000),
}).passthrough();
export type ImageManifest = z.infer<typeof imageManifestSchema>;

export interface QemuVmSpec { id: string; name: string; cpus: number; memoryMiB: number; diskGiB: number; macAddress: string; image: string }

export interface VmPaths { dir: string; disk: string; serialLog: string; qemuLog: string; qmpSock: string; vncSock: string; pidFile: string }

export function vmPaths(dir: string): VmPaths {
  return {
    dir,
    disk: join(dir, "disk.qcow2"),
    serialLog: join(dir, "serial.log"),
    qemuLog: join(dir, "qemu.log"),
    qmpSock: join(dir, "qmp.sock"),
    vncSock: join(dir, "vnc.sock"),
    pidFile: join(dir, "qemu.pid"),
  };
}

export class EngineError extends Error {}

export interface QemuEngineOptions { qemuBinary: string; qemuImgBinary: string; imageDir: string; accel: "kvm" | "tcg" }

export class QemuEngine {
  constructor(private readonly opts: QemuEngineOptions) {}

  get accel() {
    return this.opts.accel;
  }

  manifest(image: string): ImageManifest & { dir: string } {
    const dir = join(this.opts.imageDir, image);
    const file = join(dir, "template.json");
    if (!existsSync(file)) throw new EngineError(`The template image "${image}" is not on this node (${file} is missing)`);
    const parsed = imageManifestSchema.safeParse(JSON.parse(readFileSync(file, "utf8")));
    if (!parsed.success) throw new EngineError(`The template image "${image}" has an invalid template.json`);
    return { ...parsed.data, dir };
  }

  /** Creates the VM's overlay disk; a half-written file never takes the final name. */
  async createDisk(spec: QemuVmSpec, paths: VmPaths): Promise<void> {
    if (existsSync(paths.disk)) return;
    const m = this.manifest(spec.image);
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

  args(spec: QemuVmSpec, paths: VmPaths): string[] {
    const m = this.manifest(spec.image);
    for (const p of [paths.qmpSock, paths.vncSock]) {
      if (Buffer.byteLength(p) > MAX_SOCKET_PATH) throw new EngineError(`Socket path too long for a unix socket: ${p} (use a shorter data directory)`);
    }
    return [
      "-name", `${spec.name},debug-threads=on`,
      "-machine", `pc,accel=${this.opts.accel}`,
      ...(this.opts.accel === "kvm" ? ["-cpu", "host"] : []),
      "-m", String(spec.memoryMiB),
      "-smp", String(spec.cpus),
      "-kernel", join(m.dir, m.kernel),
      "-initrd", join(m.dir, m.initrd),
      "-append", `${m.cmdline} vdi.hostname=${spec.name}`,
      "-drive", `file=${paths.disk},if=virtio,format=qcow2,discard=unmap`,
      "-nic", `user,model=virtio-net-pci,mac=${spec.macAddress}`,
      "-smbios", `type=1,serial=${spec.id}`,
      "-vga", "std",
      "-display", "none",
      "-vnc", `unix:${paths.vncSock}`,
      "-qmp", `unix:${paths.qmpSock},server=on,wait=off`,
      "-chardev", `file,id=serial0,path=${paths.serialLog},append=on`,
      "-serial", "chardev:serial0",
      "-pidfile", paths.pidFile,
      "-nodefaults", "-no-user-config",
      "-daemonize",
    ];
  }

  /** Starts QEMU; resolves once it has daemonized (its start-up errors come back as EngineError). */
  async start(spec: QemuVmSpec, paths: VmPaths): Promise<void> {
    rmSync(paths.qmpSock, { force: true });
    rmSync(paths.vncSock, { force: true });
    rmSync(paths.pidFile, { force: true });
    const r = await runCommand(this.opts.qemuBinary, this.args(spec, paths), 60_000).catch((e: NodeJS.ErrnoException) => {
      throw new EngineError(e.code === "ENOENT" ? `QEMU is not installed on this node (${this.opts.qemuBinary} not found)` : `Cannot run QEMU: ${e.message}`);
    });
    if (r.code !== 0) throw new EngineError(`QEMU failed to start: ${r.stderr.trim().split("\n").slice(-3).join(" ") || `exit ${r.code}`}`);
  }

  /** The pid of this VM's QEMU if it runs (checked against /proc so a reused pid is not mistaken). */
  runningPid(paths: VmPaths): number | null {
    if (!existsSync(paths.pidFile)) return null;
    const pid = Number.parseInt(readFileSync(paths.pidFile, "utf8").trim(), 10);
    if (!Number.isInteger(pid) || pid <= 1) return null;
    try {
      const cmdline = readFileSync(`/proc/${pid}/cmdline`, "utf8");
      return cmdline.includes(paths.qmpSock) ? pid : null;
    } catch {
      return null;
    }
  }

  async connectQmp(paths: VmPaths): Promise<QmpClient> {
    return QmpClient.connect(paths.qmpSock);
  }

  /** Powers the VM off: QMP quit, then SIGKILL if it lingers. */
  async stop(paths: VmPaths, qmp: QmpClient | null): Promise<void> {
    const pid = this.runningPid(paths);
    if (pid === null) return;
    if (qmp && !qmp.isClosed) await qmp.execute("quit").catch(() => undefined);
    else process.kill(pid, "SIGTERM");
    const deadline = Date.now() + 5000;
    while (Date.now() < deadline) {
      if (this.runningPid(paths) === null) return;
      await new Promise((r) => setTimeout(r, 50));
    }
    try {
      process.kill(pid, "SIGKILL");
    } catch {
      /* already gone */
    }
  }

  diskBytes(paths: VmPaths): number {
    return existsSync(paths.disk) ? statSync(paths.disk).size : 0;
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
