// Runs one QEMU process per VM: daemonized (so VMs outlive the agent), QMP and VNC on unix
// sockets in the VM's folder, disk as a qcow2 overlay on the template's base image.
import { existsSync, linkSync, mkdirSync, readdirSync, renameSync, rmSync, statSync } from "node:fs";
import { basename, dirname, join } from "node:path";
import type { GuestEgress } from "../../network/guest-egress.ts";
import { fsyncDir, fsyncFile, writeFileAtomic } from "@vdi/durable-file";
import { NO_FAULTS, type FaultPoints } from "../../lib/fault-points.ts";

/** Names a step of the operation in progress (a fault point). */
type FaultStep = (step: string) => void;
import { runCommand } from "../../lib/run-command.ts";
import { killProcessesMentioning, processesMentioning, readPositionOf } from "../../lib/processes.ts";
import { readManifest } from "../image-manifest.ts";
import { assertNotRunning, checkSocketPaths, EngineError, hostProcesses, pidOfVm, waitGone, type CloneSource, type Engine, type EngineVmSpec, type ImageExport, type SnapshotOptions, type VmHandle, type VmPaths } from "../engine.ts";
import { activeDisk, allocatedBytes, collectGarbage, newLayerPath, QemuImg, readSnapshotMeta, setActiveDisk, type SnapshotMeta } from "./disk-layers.ts";
import { QmpClient } from "./qmp-client.ts";

const GiB = 1024 ** 3;

export interface QemuEngineOptions {
  qemuBinary: string; qemuImgBinary: string; imageDir: string; accel: "kvm" | "tcg";
  /** Where guests with outbound access run, made at the first such start (absent or unavailable: every guest runs restricted). */
  egress?: () => Promise<GuestEgress>;
  /** Test fault points at the steps of saves and snapshots (lib/fault-points.ts). */
  faults?: FaultPoints;
}

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
  private readonly img: QemuImg;
  constructor(private readonly opts: QemuEngineOptions) {
    this.img = new QemuImg(opts.qemuImgBinary);
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

  isPrepared(paths: VmPaths) {
    try {
      return existsSync(activeDisk(paths));
    } catch {
      return false;
    }
  }

  private baseOf(image: string): string {
    const m = readManifest(this.opts.imageDir, image);
    if (!m.disk) throw new EngineError(`The template image "${image}" has no disk`);
    return join(m.dir, m.disk);
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
    fsyncFile(tmp);
    renameSync(tmp, paths.disk);
    fsyncDir(paths.dir);
  }

  args(spec: EngineVmSpec, paths: VmPaths, outbound = false): string[] {
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
      "-drive", `file=${activeDisk(paths)},if=virtio,id=disk0,format=qcow2,discard=unmap`,
      "-nic", userNetwork(spec.macAddress, outbound),
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
    if (restoreDir) throw new EngineError("QEMU VMs go back to a snapshot through revert()");
    assertNotRunning(paths);
    for (const p of [paths.controlSock, paths.vncSock, paths.pidFile]) rmSync(p, { force: true });
    const egress = await this.egressFor(readManifest(this.opts.imageDir, spec.image));
    const args = [...this.args(spec, paths, !!egress), ...(incoming ? ["-incoming", `exec:cat ${incoming}`] : [])];
    const argv = egress ? egress.wrap([this.opts.qemuBinary, ...args]) : [this.opts.qemuBinary, ...args];
    const r = await runCommand(argv[0]!, argv.slice(1), 60_000).catch((e: NodeJS.ErrnoException) => {
      throw new EngineError(e.code === "ENOENT" ? `QEMU is not installed on this node (${this.opts.qemuBinary} not found)` : `Cannot run QEMU: ${e.message}`);
    });
    if (r.code !== 0) throw new EngineError(`QEMU failed to start: ${r.stderr.trim().split("\n").slice(-3).join(" ") || `exit ${r.code}`}`);
  }

  runningPid(paths: VmPaths): number | null {
    return pidOfVm(paths, hostProcesses);
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
    const frozen = activeDisk(paths);
    const next = newLayerPath(paths);
    let qmp: QmpClient | null = null;
    let wasRunning = false;
    try {
      if (running) {
        qmp = this.qmpOf(handle!);
        wasRunning = (await qmp.execute<{ status: string }>("query-status")).status === "running";
        if (wasRunning) await qmp.execute("stop");
        await qmp.execute("blockdev-snapshot-sync", { device: "disk0", "snapshot-file": next, format: "qcow2", mode: "absolute-paths" });
        // QEMU made the file; its header must be durable before anything names it.
        fsyncFile(next);
        setActiveDisk(paths, next);  // QEMU writes to `next` from now on
        opts.progress(10);
        at("after-layer-switch");
        if (opts.withRam) await this.migrateToFile(qmp, join(tmp, "state.bin"), (p) => opts.progress(10 + Math.round(p * 0.85)), at);
        at("after-memory");
      } else {
        await this.img.createLayer(next, frozen);
        setActiveDisk(paths, next);
        opts.progress(50);
        at("after-layer-switch");
      }
      const meta: SnapshotMeta = { layer: basename(frozen), ram: opts.withRam, ...(opts.withRam && opts.size ? opts.size : {}) };
      writeFileAtomic(join(tmp, "meta.json"), JSON.stringify(meta));
      renameSync(tmp, dir);
      fsyncDir(join(paths.dir, "snapshots"));
    } catch (e) {
      rmSync(tmp, { recursive: true, force: true });
      throw e;
    } finally {
      if (qmp && wasRunning && !qmp.isClosed) await qmp.execute("cont").catch(() => undefined);
    }
    return this.snapshotBytes(paths, dir);
  }

  snapshotBytes(paths: VmPaths, dir: string): number {
    const meta = readSnapshotMeta(dir);
    return allocatedBytes(join(paths.dir, meta.layer)) + allocatedBytes(join(dir, "state.bin"));
  }

  /**
   * Puts a stopped VM back to a snapshot: a new empty layer on the snapshot's frozen layer becomes
   * the active one (the commit point); with RAM, QEMU then resumes the saved state on it.
   */
  /** Everything a revert needs, checked before the VM is stopped or its disk moves. */
  checkRevert(spec: EngineVmSpec, paths: VmPaths, dir: string): void {
    const meta = readSnapshotMeta(dir);
    if (!existsSync(join(paths.dir, meta.layer))) throw new EngineError(`The snapshot's disk layer is missing on this node (${meta.layer})`);
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
    const frozen = join(paths.dir, meta.layer);
    const next = newLayerPath(paths);
    // The VM keeps its current disk size: a disk grown after the snapshot stays grown (the portal
    // and the quota count that size), the snapshot's data reads through below it.
    await this.img.createLayer(next, frozen, spec.diskGiB);
    setActiveDisk(paths, next);
    rmSync(paths.saved, { force: true });  // a saved state belonged to the old position
    await collectGarbage(this.img, paths);
    if (!meta.ram) return false;
    await this.start(spec, paths, undefined, join(dir, "state.bin"));
    await this.waitIncoming(paths, join(dir, "state.bin"), progress);
    return true;
  }

  /**
   * Removes a snapshot. Its layer stays while a later snapshot is built on it; when only the
   * active layer is, the layer is merged into the active one (QEMU's block-stream while the VM
   * runs, `qemu-img rebase` when stopped) so chains do not grow by a file per snapshot ever taken.
   */
  async deleteSnapshot(paths: VmPaths, dir: string, handle?: VmHandle | null, progress?: (p: number) => void): Promise<void> {
    let layer: string | null = null;
    try { layer = join(paths.dir, readSnapshotMeta(dir).layer); } catch { /* unreadable: just remove it */ }
    rmSync(dir, { recursive: true, force: true });
    fsyncDir(join(paths.dir, "snapshots"));
    // Merging only saves space and chain length: if it fails, the layer stays, as it would without it.
    if (layer) await this.mergeIntoActive(paths, layer, handle ?? null, progress).catch(() => undefined);
    await collectGarbage(this.img, paths);
  }

  /** Merges `layer` into the active layer when the active layer is its only user. */
  private async mergeIntoActive(paths: VmPaths, layer: string, handle: VmHandle | null, progress?: (p: number) => void): Promise<void> {
    const active = activeDisk(paths);
    const chain = await this.img.chain(active);
    if (chain[1]?.filename !== layer) return;  // not right below the active layer
    // Another snapshot's layer built on it (a branch of the tree) still needs it as it is.
    for (const d of readdirSync(join(paths.dir, "snapshots"))) {
      let root: string;
      try { root = join(paths.dir, readSnapshotMeta(join(paths.dir, "snapshots", d)).layer); } catch { continue; }
      if ((await this.img.chain(root)).some((c) => c.filename === layer)) return;
    }
    // The bottom layer of a chain (a full clone's own disk) would be copied whole: it stays.
    const base = chain[2]?.filename;
    if (!base) return;
    if (this.runningPid(paths) !== null) {
      const qmp = this.qmpOf(handle!);
      // Copies the layer's data into the active one, then QEMU itself drops it from the chain.
      await qmp.execute("block-stream", { "job-id": "merge", device: "disk0", base });
      for (const end = Date.now() + 600_000; ; ) {
        const jobs = await qmp.execute<{ device: string; len: number; offset: number }[]>("query-block-jobs");
        const job = jobs.find((j) => j.device === "merge");
        if (!job) break;
        if (job.len > 0) progress?.(Math.min(99, 10 + Math.round((85 * job.offset) / job.len)));
        if (Date.now() > end) throw new EngineError("Merging the snapshot's layer took longer than 10 minutes");
        await new Promise((r) => setTimeout(r, 100));
      }
      const now = await this.img.chain(active);
      if (now.some((c) => c.filename === layer)) throw new EngineError("Merging the snapshot's layer did not complete");
    } else {
      // Safe mode: the data the active layer reads through `layer` is copied into it first.
      await this.img.run(["rebase", "-q", "-f", "qcow2", "-b", base, "-F", "qcow2", active]);
      fsyncFile(active);
    }
  }

  /** A clone's disk: linked (a new layer on the source snapshot's frozen layer) or full (a flattened copy). */
  async prepareClone(spec: EngineVmSpec, paths: VmPaths, src: CloneSource, progress: (p: number) => void): Promise<number> {
    if (existsSync(paths.disk)) return allocatedBytes(paths.disk);
    let from: string;
    if (src.snapshotDir) {
      from = join(src.paths.dir, readSnapshotMeta(src.snapshotDir).layer);
    } else {
      if (this.runningPid(src.paths) !== null) throw new EngineError("A full clone of a VM's current disk needs the source VM stopped (or clone a snapshot)");
      from = activeDisk(src.paths);
    }
    if (!existsSync(from)) throw new EngineError(`The source disk is missing on this node (${from})`);
    if (src.mode === "linked") {
      if (!src.snapshotDir) throw new EngineError("A linked clone is made from a snapshot");
      await this.img.createLayer(paths.disk, from, spec.diskGiB);
    } else {
      // Flattened whole: `convert -B <base>` only copies what the top layer holds, and would lose
      // data that lives in intermediate layers of the chain (found by bench/lifecycle.ts).
      await this.img.convert(from, paths.disk, null, progress);
      const size = (await this.img.chain(paths.disk))[0]!.virtualSize;
      if (size < spec.diskGiB * GiB) await this.img.run(["resize", "-q", paths.disk, `${spec.diskGiB}G`]);
    }
    return allocatedBytes(paths.disk);
  }

  /** Grows the disk (online with QMP block_resize, else qemu-img resize); never shrinks. */
  async growDisk(paths: VmPaths, handle: VmHandle | null, sizeGiB: number): Promise<void> {
    const disk = activeDisk(paths);
    const current = (await this.img.chain(disk))[0]!.virtualSize;
    const want = sizeGiB * GiB;
    if (want < current) throw new EngineError(`The disk is ${(current / GiB).toFixed(1)} GiB; disks can only grow`);
    if (want === current) return;
    if (this.runningPid(paths) !== null) await this.qmpOf(handle!).execute("block_resize", { device: "disk0", size: want });
    else await this.img.run(["resize", "-q", disk, `${sizeGiB}G`]);
  }

  /** Flattens the VM's disk (or a snapshot's) into a new, independent template image. */
  async exportImage(spec: EngineVmSpec, paths: VmPaths, snapshotDir: string | null, out: ImageExport, progress: (p: number) => void): Promise<number> {
    if (!snapshotDir && this.runningPid(paths) !== null) throw new EngineError("Stop the VM (or pick a snapshot) to make a template from it");
    const from = snapshotDir ? join(paths.dir, readSnapshotMeta(snapshotDir).layer) : activeDisk(paths);
    const m = readManifest(this.opts.imageDir, spec.image);
    const dest = join(this.opts.imageDir, out.image);
    if (existsSync(dest)) throw new EngineError(`The image folder ${out.image} already exists on this node`);
    const tmp = `${dest}.tmp`;
    rmSync(tmp, { recursive: true, force: true });
    mkdirSync(tmp);
    const marker = join(tmp, `.from-${basename(paths.dir)}`);  // lets cleanup() find it after a crash
    writeFileAtomic(marker, "");
    try {
      await this.img.convert(from, join(tmp, "disk.qcow2"), null, progress);
      // Kernel and initrd are immutable files of the source image: share them.
      for (const f of [m.kernel, m.initrd].filter((x): x is string => !!x)) linkSync(join(m.dir, f), join(tmp, f));
      const { dir: _dir, ...manifest } = m;
      writeFileAtomic(join(tmp, "template.json"), JSON.stringify({ ...manifest, name: out.image, title: out.title, disk: "disk.qcow2", diskSizeGiB: spec.diskGiB }, null, 2));
      rmSync(marker);
      renameSync(tmp, dest);
      fsyncDir(this.opts.imageDir);
    } catch (e) {
      rmSync(tmp, { recursive: true, force: true });
      throw e;
    }
    return allocatedBytes(join(dest, "disk.qcow2"));
  }

  hasImage(image: string): boolean {
    return /^[a-z0-9-]{1,64}$/.test(image) && existsSync(join(this.opts.imageDir, image, "template.json"));
  }

  /** After a restart or a failed operation: temp files and unreferenced layers go. */
  async cleanup(paths: VmPaths, handle: VmHandle | null): Promise<string[]> {
    if (!existsSync(paths.dir)) return [];
    const removed: string[] = [];
    // QEMU that kept running knows which layer it writes to: that is the truth.
    if (handle && !handle.isClosed && this.runningPid(paths) !== null) {
      const qmp = this.qmpOf(handle);
      const mig = await qmp.execute<{ status?: string }>("query-migrate").catch(() => ({ status: undefined }));
      if (mig.status === "active" || mig.status === "setup") await qmp.execute("migrate_cancel").catch(() => undefined);
      const blocks = await qmp.execute<{ device: string; inserted?: { file: string } }[]>("query-block");
      const file = blocks.find((b) => b.device === "disk0")?.inserted?.file;
      if (file && file !== activeDisk(paths) && existsSync(file)) setActiveDisk(paths, file);
    }
    for (const f of ["saved.tmp", "saved.tmp.part", "saved.tmp.part.ok"]) {
      if (existsSync(join(paths.dir, f))) { rmSync(join(paths.dir, f), { force: true }); removed.push(f); }
    }
    if (this.isPrepared(paths)) removed.push(...(await collectGarbage(this.img, paths)));
    for (const f of readdirSync(this.opts.imageDir)) {
      if (f.endsWith(".tmp") && statSync(join(this.opts.imageDir, f)).isDirectory() && existsSync(join(this.opts.imageDir, f, `.from-${basename(paths.dir)}`))) {
        rmSync(join(this.opts.imageDir, f), { recursive: true, force: true });
      }
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
