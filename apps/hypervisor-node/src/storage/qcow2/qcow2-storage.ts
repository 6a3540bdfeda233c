// A QEMU VM's storage: a chain of qcow2 layers in the VM's folder on the template's base image
// (layers.ts). Snapshots freeze the active layer, clones are layers on a frozen one (linked) or a
// flattened copy (full), templates are flattened exports. While QEMU runs, every change to the
// chain goes through the engine's LiveDisk (QMP); otherwise qemu-img works on the files.
import { existsSync, linkSync, mkdirSync, readdirSync, renameSync, rmSync, statSync } from "node:fs";
import { basename, join } from "node:path";
import { fsyncDir, fsyncFile, writeFileAtomic } from "@vdi/durable-file";
import { runCommand } from "../../lib/run-command.ts";
import { readManifest } from "../../engines/image-manifest.ts";
import { EngineError, type EngineVmSpec, type VmPaths } from "../../engines/engine.ts";
import type { CloneSource, ImageExport, LiveDisk, VmStorage } from "../storage.ts";
import { EngineUsers } from "../../lib/engine-users.ts";
import { activeDisk, allocatedBytes, collectGarbage, newLayerPath, QemuImg, readSnapshotMeta, setActiveDisk } from "./layers.ts";

const GiB = 1024 ** 3;

export interface Qcow2StorageOptions { qemuImgBinary: string; imageDir: string }

export class Qcow2Storage implements VmStorage {
  readonly img: QemuImg;
  constructor(private readonly opts: Qcow2StorageOptions) {
    this.img = new QemuImg(opts.qemuImgBinary);
  }

  isPrepared(paths: VmPaths) {
    try {
      return existsSync(activeDisk(paths));
    } catch {
      return false;
    }
  }

  /** The file QEMU opens as the VM's disk. */
  activeDisk(paths: VmPaths): string {
    return activeDisk(paths);
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

  /**
   * Freezes the active layer for a snapshot: a new empty layer goes on top and becomes the active
   * one (the commit point). Returns the frozen layer's name. A running VM (`live`) switches itself,
   * so that its writes never land in the frozen layer.
   */
  async freezeLayer(paths: VmPaths, live: LiveDisk | null): Promise<string> {
    const frozen = activeDisk(paths);
    const next = newLayerPath(paths);
    if (live) {
      await live.switchTo(next);
      // QEMU made the file; its header must be durable before anything names it.
      fsyncFile(next);
    } else {
      await this.img.createLayer(next, frozen);
    }
    setActiveDisk(paths, next);
    // The frozen layer is read-only from now on, and a linked clone may build on it: an engine
    // that wrote it as the VM's own user gives it back.
    if (live) EngineUsers.seal(frozen);
    return basename(frozen);
  }

  /** Throws when the snapshot's disk part is not here (before anything is stopped or changed). */
  checkRevertDisk(paths: VmPaths, dir: string): void {
    const meta = readSnapshotMeta(dir);
    if (!existsSync(join(paths.dir, meta.layer))) throw new EngineError(`The snapshot's disk layer is missing on this node (${meta.layer})`);
  }

  /** Puts a stopped VM's disk back to a snapshot: a new empty layer on its frozen layer becomes the active one. */
  async revertDisk(spec: EngineVmSpec, paths: VmPaths, dir: string): Promise<void> {
    const frozen = join(paths.dir, readSnapshotMeta(dir).layer);
    const next = newLayerPath(paths);
    // The VM keeps its current disk size: a disk grown after the snapshot stays grown (the portal
    // and the quota count that size), the snapshot's data reads through below it.
    await this.img.createLayer(next, frozen, spec.diskGiB);
    setActiveDisk(paths, next);
  }

  /** Unreferenced layers and temp files go (after a revert, a delete, an interruption). */
  collectGarbage(paths: VmPaths): Promise<string[]> {
    return collectGarbage(this.img, paths);
  }

  snapshotBytes(paths: VmPaths, dir: string): number {
    const meta = readSnapshotMeta(dir);
    return allocatedBytes(join(paths.dir, meta.layer)) + allocatedBytes(join(dir, "state.bin"));
  }

  /**
   * Removes a snapshot. Its layer stays while a later snapshot is built on it; when only the
   * active layer is, the layer is merged into the active one (QEMU's block-stream while the VM
   * runs, `qemu-img rebase` when stopped) so chains do not grow by a file per snapshot ever taken.
   */
  async deleteSnapshot(paths: VmPaths, dir: string, live: LiveDisk | null, progress?: (p: number) => void): Promise<void> {
    let layer: string | null = null;
    try { layer = join(paths.dir, readSnapshotMeta(dir).layer); } catch { /* unreadable: just remove it */ }
    rmSync(dir, { recursive: true, force: true });
    fsyncDir(join(paths.dir, "snapshots"));
    // Merging only saves space and chain length: if it fails, the layer stays, as it would without it.
    if (layer) {
      await this.mergeIntoActive(paths, layer, live, progress).catch((err: unknown) => {
        console.warn(`[storage] ${basename(paths.dir)}: the deleted snapshot's layer stays unmerged: ${(err as Error).message}`);
      });
    }
    await collectGarbage(this.img, paths);
  }

  /** Merges `layer` into the active layer when the active layer is its only user. */
  private async mergeIntoActive(paths: VmPaths, layer: string, live: LiveDisk | null, progress?: (p: number) => void): Promise<void> {
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
    if (live) {
      await live.stream(base, progress);
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
      if (src.running) throw new EngineError("A full clone of a VM's current disk needs the source VM stopped (or clone a snapshot)");
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

  /** Grows the disk (online through the running engine, else qemu-img resize); never shrinks. */
  async growDisk(paths: VmPaths, live: LiveDisk | null, sizeGiB: number): Promise<void> {
    const disk = activeDisk(paths);
    const current = (await this.img.chain(disk))[0]!.virtualSize;
    const want = sizeGiB * GiB;
    if (want < current) throw new EngineError(`The disk is ${(current / GiB).toFixed(1)} GiB; disks can only grow`);
    if (want === current) return;
    if (live) await live.resize(want);
    else await this.img.run(["resize", "-q", disk, `${sizeGiB}G`]);
  }

  /** Flattens the VM's disk (or a snapshot's) into a new, independent template image. */
  async exportImage(spec: EngineVmSpec, paths: VmPaths, snapshotDir: string | null, out: ImageExport, live: LiveDisk | null, progress: (p: number) => void): Promise<number> {
    if (!snapshotDir && live) throw new EngineError("Stop the VM (or pick a snapshot) to make a template from it");
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

  /** After a restart or a failed operation: temp files, unreferenced layers and half-made exports go. */
  async cleanup(paths: VmPaths, live: LiveDisk | null): Promise<string[]> {
    if (!existsSync(paths.dir)) return [];
    const removed: string[] = [];
    // QEMU that kept running knows which layer it writes to: that is the truth.
    if (live) {
      const file = await live.activeFile();
      if (file && file !== activeDisk(paths) && existsSync(file)) setActiveDisk(paths, file);
    }
    if (this.isPrepared(paths)) removed.push(...(await collectGarbage(this.img, paths)));
    for (const f of readdirSync(this.opts.imageDir)) {
      if (f.endsWith(".tmp") && statSync(join(this.opts.imageDir, f)).isDirectory() && existsSync(join(this.opts.imageDir, f, `.from-${basename(paths.dir)}`))) {
        rmSync(join(this.opts.imageDir, f), { recursive: true, force: true });
      }
    }
    return removed;
  }
}
