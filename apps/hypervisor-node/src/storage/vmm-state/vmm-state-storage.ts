// A microVM's storage: it has no disk. What it keeps is its snapshots (memory and device state,
// written by the VMM itself into <vm>/snapshots/<id>) and a marker that it was prepared. Clones
// hard-link a snapshot's files: they are never written again, and a restore maps them copy-on-write.
import { existsSync, linkSync, mkdirSync, readdirSync, renameSync, rmSync, statSync, writeFileSync } from "node:fs";
import { basename, join } from "node:path";
import { readManifest } from "../../engines/image-manifest.ts";
import { EngineError, type EngineVmSpec, type VmPaths } from "../../engines/engine.ts";
import type { CloneSource, VmStorage } from "../storage.ts";

/** Bytes the files of a folder take on disk (sparse-aware). */
export function dirBytes(dir: string): number {
  let sum = 0;
  for (const f of readdirSync(dir)) sum += statSync(join(dir, f)).blocks * 512;
  return sum;
}

export class VmmStateStorage implements VmStorage {
  constructor(private readonly opts: { imageDir: string }) {}

  isPrepared(paths: VmPaths) {
    return existsSync(paths.disk);
  }

  /** Checks the image and leaves the marker that the VM was prepared. */
  async prepare(spec: EngineVmSpec, paths: VmPaths): Promise<void> {
    const m = readManifest(this.opts.imageDir, spec.image);
    if (!existsSync(join(m.dir, m.kernel))) throw new EngineError(`The microVM image is missing its guest (${join(m.dir, m.kernel)})`);
    writeFileSync(paths.disk, "microvm\n");
  }

  async prepareClone(spec: EngineVmSpec, paths: VmPaths, src: CloneSource): Promise<number> {
    if (!src.snapshotDir) throw new EngineError("MicroVMs are cloned from a snapshot");
    if (!existsSync(join(src.snapshotDir, "state.bin"))) throw new EngineError(`The snapshot to clone is not on this node (${src.snapshotDir})`);
    const dst = join(paths.dir, "snapshots", basename(src.snapshotDir));
    const tmp = `${dst}.tmp`;
    rmSync(tmp, { recursive: true, force: true });
    mkdirSync(tmp, { recursive: true });
    for (const f of readdirSync(src.snapshotDir)) linkSync(join(src.snapshotDir, f), join(tmp, f));
    rmSync(dst, { recursive: true, force: true });
    renameSync(tmp, dst);
    await this.prepare(spec, paths);
    return 0;
  }

  async growDisk(): Promise<void> {
    throw new EngineError("MicroVMs have no disk to grow");
  }

  async exportImage(): Promise<number> {
    throw new EngineError("Templates are made from QEMU VMs; a microVM can be cloned from a snapshot instead");
  }

  hasImage(): boolean {
    return false;
  }

  snapshotBytes(_paths: VmPaths, dir: string): number {
    return dirBytes(dir);
  }

  async deleteSnapshot(_paths: VmPaths, dir: string): Promise<void> {
    // Clones hard-linked these files: theirs stay.
    rmSync(dir, { recursive: true, force: true });
  }

  async cleanup(paths: VmPaths): Promise<string[]> {
    const removed: string[] = [];
    const root = join(paths.dir, "snapshots");
    if (existsSync(root)) {
      for (const d of readdirSync(root)) if (d.includes(".tmp")) { rmSync(join(root, d), { recursive: true, force: true }); removed.push(`snapshots/${d}`); }
    }
    return removed;
  }
}
