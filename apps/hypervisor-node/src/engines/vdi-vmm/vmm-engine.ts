// The microVM engine: one vdi-vmm process per VM (our own VMM in native/), started in its own
// session so it outlives the agent; control and RFB on unix sockets in the VM's folder.
import { spawn } from "node:child_process";
import { closeSync, existsSync, mkdirSync, openSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { connect, type Socket } from "node:net";
import { basename, dirname, join } from "node:path";
import { vmmPaths } from "../../native.ts";
import { readManifest } from "../image-manifest.ts";
import { VmmStateStorage } from "../../storage/vmm-state/vmm-state-storage.ts";
import { engineMemoryLimit, type CgroupPlacement } from "../../lib/cgroups.ts";
import type { EngineSupervisor } from "../../lib/engine-supervisor.ts";
import { EngineUsers } from "../../lib/engine-users.ts";
import { assertNotRunning, checkSocketPaths, EngineError, hostProcesses, nicsOf, pidOfVm, waitGone, type Engine, type EngineVmSpec, type SnapshotOptions, type VmHandle, type VmPaths } from "../engine.ts";

const MAX_REPLY = 4096;

/** The number the guest sees as its VM id (BootInfo), derived from the portal's id. */
function vmNumber(id: string): number {
  let h = 0;
  for (const c of id) h = (h * 31 + c.charCodeAt(0)) >>> 0;
  return h;
}

/** One line-oriented connection to the VMM's control socket. */
export class VmmControl implements VmHandle {
  private buf = "";
  private waiters: ((line: string) => void)[] = [];
  private closed = false;
  private constructor(private readonly sock: Socket, private readonly logFile: string) {
    sock.setEncoding("utf8");
    sock.on("data", (d: string) => {
      this.buf += d;
      if (this.buf.length > MAX_REPLY) sock.destroy();
      let nl: number;
      while ((nl = this.buf.indexOf("\n")) >= 0) {
        const line = this.buf.slice(0, nl);
        this.buf = this.buf.slice(nl + 1);
        this.waiters.shift()?.(line);
      }
    });
    sock.on("error", () => undefined);
    sock.on("close", () => {
      this.closed = true;
      for (const w of this.waiters.splice(0)) w("error connection closed");
    });
  }

  static connect(path: string, logFile: string): Promise<VmmControl> {
    return new Promise((resolve, reject) => {
      const s = connect(path);
      s.once("connect", () => resolve(new VmmControl(s, logFile)));
      s.once("error", reject);
    });
  }

  get isClosed() { return this.closed; }

  /** Sends one command; resolves with the text after "ok", rejects with the VMM's error. */
  command(line: string, timeoutMs = 30_000): Promise<string> {
    if (this.closed) return Promise.reject(new EngineError("the VMM's control socket is closed"));
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new EngineError(`VMM did not answer "${line.split(" ")[0]}"`)), timeoutMs);
      this.waiters.push((reply) => {
        clearTimeout(timer);
        if (reply.startsWith("ok")) resolve(reply.slice(2).trim());
        else reject(new EngineError(reply.replace(/^error /, "")));
      });
      this.sock.write(`${line}\n`);
    });
  }

  onExit(cb: (reason: string) => void) {
    this.sock.once("close", () => {
      // The VMM's last words say why it stopped ("vmm: stopped: guest triple-faulted").
      let reason = "The microVM exited";
      try {
        const m = /vmm: (?:stopped: )?(.*)\s*$/.exec(readFileSync(this.logFile, "utf8").trim().split("\n").pop() ?? "");
        if (m?.[1]) reason = `The microVM stopped: ${m[1]}`;
      } catch { /* no log */ }
      cb(reason);
    });
  }

  close() { this.sock.destroy(); }
}

export class VmmEngine implements Engine {
  readonly kind = "vdi-vmm" as const;
  readonly spawnedChild = true;
  readonly storage: VmmStateStorage;
  constructor(private readonly opts: { imageDir: string; cgroups?: CgroupPlacement; supervisor?: EngineSupervisor; users?: EngineUsers }) {
    this.storage = new VmmStateStorage(opts);
  }

  /** MicroVMs have no disk. */
  liveDisk(): null {
    return null;
  }

  async start(spec: EngineVmSpec, paths: VmPaths, restoreDir?: string): Promise<void> {
    const { vmm } = vmmPaths();
    if (!existsSync(vmm)) throw new EngineError(`The microVM engine is not built on this node (${vmm} is missing)`);
    const m = readManifest(this.opts.imageDir, spec.image);
    const nics = nicsOf(spec);
    // The VMM has one virtio-net card on its own user network (native/vmm/devices).
    if (nics.length !== 1 || nics[0]!.network.kind !== "user") throw new EngineError("A microVM has exactly one network card, on the user-mode network");
    checkSocketPaths(paths);
    assertNotRunning(paths);
    for (const p of [paths.controlSock, paths.vncSock, paths.pidFile]) rmSync(p, { force: true });
    // The VMM opens KVM, its guest, the state it restores and its sockets as root, then becomes the
    // VM's user (--runas): the states it writes later go into folders that user may write.
    const user = this.opts.users?.forVm(paths.dir) ?? null;
    EngineUsers.own(paths.dir, user);
    mkdirSync(join(paths.dir, "snapshots"), { recursive: true });
    EngineUsers.own(join(paths.dir, "snapshots"), user);
    const log = openSync(paths.engineLog, "a");
    // A restore takes memory size and state from the snapshot; the identity (MAC, id) is this VM's.
    const boot = [...(restoreDir ? ["--restore", restoreDir] : ["--kernel", join(m.dir, m.kernel), "--mem", String(spec.memoryMiB)]), "--vm-id", String(vmNumber(spec.id))];
    const plain = [vmm, ...boot, "--serial-log", paths.serialLog, "--control", paths.controlSock, "--vnc", paths.vncSock, "--mac", nics[0]!.mac, ...(user ? ["--runas", `${user.uid}:${user.gid}`] : [])];
    // In the VM's cgroup from its first page (the shell that joins it execs the VMM: same pid).
    const argv = this.opts.cgroups ? this.opts.cgroups.wrap(spec.id, { cpus: 1, memoryBytes: engineMemoryLimit(spec.memoryMiB, { tcg: false }) }, plain) : plain;
    const child = spawn(argv[0]!, argv.slice(1), { detached: true, stdio: ["ignore", log, log] });
    closeSync(log);
    if (!child.pid) throw new EngineError("Cannot start the microVM engine");
    writeFileSync(paths.pidFile, `${child.pid}\n`);
    child.unref();
    // Ready when the control socket answers; an early exit is reported with the VMM's own words.
    const deadline = Date.now() + 10_000;
    while (Date.now() < deadline) {
      if (child.exitCode !== null || child.signalCode !== null) {
        const last = readFileSync(paths.engineLog, "utf8").trim().split("\n").pop() ?? "";
        throw new EngineError(`The microVM failed to start: ${last.replace(/^vmm: /, "") || `exit ${child.exitCode}`}`);
      }
      if (existsSync(paths.controlSock)) return;
      await new Promise((r) => setTimeout(r, 10));
    }
    throw new EngineError("The microVM did not come up within 10 s");
  }

  runningPid(paths: VmPaths): number | null {
    return pidOfVm(paths, hostProcesses);
  }

  /** Signals the VM's engine through a pidfd (never a recycled pid), or by pid without the addon. */
  private kill(paths: VmPaths, pid: number, signal: NodeJS.Signals): void {
    if (this.opts.supervisor) this.opts.supervisor.signal(pid, paths.controlSock, signal);
    else try { process.kill(pid, signal); } catch { /* gone */ }
  }

  attach(paths: VmPaths): Promise<VmHandle> {
    return VmmControl.connect(paths.controlSock, paths.engineLog);
  }

  async stop(paths: VmPaths, handle: VmHandle | null): Promise<void> {
    const pid = this.runningPid(paths);
    if (pid === null) return;
    if (handle instanceof VmmControl && !handle.isClosed) await handle.command("stop").catch(() => undefined);
    else this.kill(paths, pid, "SIGTERM");
    if (!(await waitGone(() => this.runningPid(paths) !== null, 3000))) {
      this.kill(paths, pid, "SIGKILL");
    }
    this.opts.cgroups?.release(basename(paths.dir));
  }

  private controlOf(handle: VmHandle): VmmControl {
    if (!(handle instanceof VmmControl) || handle.isClosed) throw new EngineError("the microVM's control socket is closed");
    return handle;
  }
  async pause(handle: VmHandle) { await this.controlOf(handle).command("pause"); }
  async resume(handle: VmHandle) { await this.controlOf(handle).command("resume"); }
  async isPaused(handle: VmHandle) { return (await this.controlOf(handle).command("status")).startsWith("paused"); }

  async save(paths: VmPaths, handle: VmHandle): Promise<void> {
    rmSync(paths.saved, { recursive: true, force: true });
    await this.controlOf(handle).command(`snapshot ${paths.saved}`, 120_000);  // temp dir + fsync + rename
    if (this.opts.users?.enabled) EngineUsers.sealTree(paths.saved);
    await this.stop(paths, handle);
  }

  startSaved(spec: EngineVmSpec, paths: VmPaths): Promise<void> {
    return this.start(spec, paths, paths.saved);
  }

  /** MicroVMs have no disk: a snapshot is always memory and device state. */
  async snapshot(paths: VmPaths, handle: VmHandle | null, dir: string, opts: SnapshotOptions): Promise<number> {
    if (!handle || this.runningPid(paths) === null) throw new EngineError("The microVM must be running to take a snapshot");
    mkdirSync(dirname(dir), { recursive: true });
    opts.progress(20);
    await this.controlOf(handle).command(`snapshot ${dir}`, 120_000);  // temp dir + fsync + rename, in the VMM
    // Taken back from the engine: clones hard-link these files, so their owner must not be a VM's.
    if (this.opts.users?.enabled) EngineUsers.sealTree(dir);
    // Sparse files: count the blocks really used.
    return ["state.bin", "ram.bin", "fb.bin"].reduce((sum, f) => sum + statSync(join(dir, f)).blocks * 512, 0);
  }

  async revert(spec: EngineVmSpec, paths: VmPaths, dir: string): Promise<boolean> {
    if (!existsSync(join(dir, "state.bin"))) throw new EngineError("The snapshot's files are missing on this node");
    rmSync(paths.saved, { recursive: true, force: true });
    await this.start(spec, paths, dir);
    return true;
  }

  /** Half-written saved states go (snapshot folders are storage's). */
  async cleanup(paths: VmPaths): Promise<string[]> {
    const removed: string[] = [];
    for (const f of existsSync(paths.dir) ? readdirSync(paths.dir) : []) if (f.startsWith("saved.tmp")) { rmSync(join(paths.dir, f), { recursive: true, force: true }); removed.push(f); }
    return removed;
  }

  async reboot(spec: EngineVmSpec, paths: VmPaths, handle: VmHandle | null): Promise<void> {
    await this.stop(paths, handle);
    await this.start(spec, paths);
  }
}
