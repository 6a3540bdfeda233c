// A QEMU VM's disk is a chain of qcow2 layers in its folder: the template's base image at the
// bottom, frozen layers that snapshots point at, and one active (writable) layer on top.
// `active-layer` names the active one; it is switched atomically (the commit point of a
// snapshot or revert). Anything not reachable from the active layer or a snapshot is garbage.
import { existsSync, readdirSync, readFileSync, renameSync, rmSync, statSync } from "node:fs";
import { spawn } from "node:child_process";
import { basename, dirname, join } from "node:path";
import { randomBytes } from "node:crypto";
import { fsyncDir, fsyncFile, writeFileAtomic } from "@vdi/durable-file";
import { runCommand } from "../../lib/run-command.ts";
import { EngineError, type VmPaths } from "../../engines/engine.ts";

const LAYER = /^(disk|layer-[a-z0-9]{4,40})\.qcow2$/;
const MAX_CHAIN = 256;

export function activeLayerFile(paths: VmPaths): string {
  return join(paths.dir, "active-layer");
}

/** The path QEMU opens: the active layer (disk.qcow2 until the first snapshot or revert). */
export function activeDisk(paths: VmPaths): string {
  const f = activeLayerFile(paths);
  if (!existsSync(f)) return paths.disk;
  const name = readFileSync(f, "utf8").trim();
  if (!LAYER.test(name)) throw new EngineError(`The VM's active-layer file is corrupt (${JSON.stringify(name.slice(0, 80))})`);
  return join(paths.dir, name);
}

export function setActiveDisk(paths: VmPaths, layerPath: string): void {
  if (dirname(layerPath) !== paths.dir || !LAYER.test(basename(layerPath))) throw new EngineError(`not a layer of this VM: ${layerPath}`);
  writeFileAtomic(activeLayerFile(paths), `${basename(layerPath)}\n`);
}

export function newLayerPath(paths: VmPaths): string {
  return join(paths.dir, `layer-${Date.now().toString(36)}${randomBytes(4).toString("hex")}.qcow2`);
}

/** What a snapshot of a QEMU VM records next to its optional RAM state. */
export interface SnapshotMeta { layer: string; ram: boolean; cpus?: number | undefined; memoryMiB?: number | undefined }

export function readSnapshotMeta(dir: string): SnapshotMeta {
  let j: unknown;
  try {
    j = JSON.parse(readFileSync(join(dir, "meta.json"), "utf8"));
  } catch {
    throw new EngineError(`The snapshot's files are missing or unreadable on this node (${dir})`);
  }
  const m = j as Partial<SnapshotMeta>;
  if (typeof m.layer !== "string" || !LAYER.test(m.layer) || typeof m.ram !== "boolean") throw new EngineError(`The snapshot's meta.json is corrupt (${dir})`);
  return { layer: m.layer, ram: m.ram, cpus: typeof m.cpus === "number" ? m.cpus : undefined, memoryMiB: typeof m.memoryMiB === "number" ? m.memoryMiB : undefined };
}

export class QemuImg {
  constructor(private readonly bin: string) {}

  async run(args: string[], timeoutMs = 600_000): Promise<string> {
    const r = await runCommand(this.bin, args, timeoutMs).catch((e: Error) => { throw new EngineError(`${this.bin}: ${e.message}`); });
    if (r.code !== 0) throw new EngineError(`qemu-img ${args[0]} failed: ${r.stderr.trim().split("\n").slice(-2).join(" ") || `exit ${r.code ?? r.signal}`}`);
    return r.stdout;
  }

  /** A new empty layer on top of `backing`, written under a temp name and renamed when complete. */
  async createLayer(path: string, backing: string, sizeGiB?: number): Promise<void> {
    const tmp = `${path}.tmp`;
    rmSync(tmp, { force: true });
    try {
      await this.run(["create", "-q", "-f", "qcow2", "-F", "qcow2", "-b", backing, tmp, ...(sizeGiB ? [`${sizeGiB}G`] : [])]);
      await this.run(["info", "-U", tmp], 30_000); // readable before it takes its name
    } catch (e) {
      rmSync(tmp, { force: true });
      throw e;
    }
    writeRename(tmp, path);
  }

  /** The files of a layer's backing chain, the layer first (-U: it may be in use by QEMU). */
  async chain(path: string): Promise<{ filename: string; virtualSize: number; actualSize: number }[]> {
    const out = await this.run(["info", "-U", "--backing-chain", "--output=json", path], 30_000);
    const arr = JSON.parse(out) as { filename: string; "virtual-size": number; "actual-size"?: number }[];
    if (!Array.isArray(arr) || arr.length > MAX_CHAIN) throw new EngineError(`unexpected backing chain of ${path}`);
    return arr.map((x) => ({ filename: x.filename, virtualSize: x["virtual-size"], actualSize: x["actual-size"] ?? 0 }));
  }

  /**
   * Copies a chain into one new image, reporting progress. With `base`, only the data the top
   * layer itself holds is copied (qemu-img's -B semantics): callers flatten whole chains with null.
   */
  async convert(src: string, dst: string, base: string | null, progress: (p: number) => void): Promise<void> {
    const tmp = `${dst}.tmp`;
    rmSync(tmp, { force: true });
    const args = ["convert", "-p", "-U", "-O", "qcow2", ...(base ? ["-B", base, "-F", "qcow2"] : []), src, tmp];
    await new Promise<void>((resolve, reject) => {
      const child = spawn(this.bin, args, { stdio: ["ignore", "pipe", "pipe"] });
      let err = "";
      child.stdout.on("data", (d: Buffer) => {
        const all = [...d.toString().matchAll(/\((\d+(?:\.\d+)?)\/100%\)/g)];
        const last = all.at(-1);
        if (last) progress(Math.min(100, Number(last[1])));
      });
      child.stderr.on("data", (d: Buffer) => { if (err.length < 4096) err += d.toString(); });
      child.on("error", (e) => reject(new EngineError(`${this.bin}: ${e.message}`)));
      child.on("close", (code, sig) => (code === 0 ? resolve() : reject(new EngineError(`qemu-img convert failed: ${err.trim() || `exit ${code ?? sig}`}`))));
    }).catch((e: unknown) => {
      rmSync(tmp, { force: true });
      throw e;
    });
    writeRename(tmp, dst);
  }
}

function writeRename(tmp: string, dst: string): void {
  // qemu-img has written and closed the file; make its data durable before it takes its name.
  fsyncFile(tmp);
  renameSync(tmp, dst);
  fsyncDir(dirname(dst));
}

/**
 * Removes temp files and layers nothing needs: a layer stays while it is the active layer, a
 * snapshot's layer, or in the backing chain of one of those. Returns the removed names.
 */
export async function collectGarbage(img: QemuImg, paths: VmPaths): Promise<string[]> {
  const removed: string[] = [];
  const snapRoot = join(paths.dir, "snapshots");
  // Interrupted snapshot folders never got their final name.
  if (existsSync(snapRoot)) {
    for (const d of readdirSync(snapRoot)) {
      if (d.includes(".tmp")) { rmSync(join(snapRoot, d), { recursive: true, force: true }); removed.push(`snapshots/${d}`); }
    }
  }
  for (const f of readdirSync(paths.dir)) {
    // (saved.tmp and its .part are the engine's: cleanup() removes them)
    if (f.endsWith(".tmp") && f !== "saved.tmp") { rmSync(join(paths.dir, f), { recursive: true, force: true }); removed.push(f); }
  }
  const roots = [activeDisk(paths)];
  if (existsSync(snapRoot)) {
    for (const d of readdirSync(snapRoot)) {
      try { roots.push(join(paths.dir, readSnapshotMeta(join(snapRoot, d)).layer)); } catch { /* not a QEMU snapshot */ }
    }
  }
  const needed = new Set<string>();
  for (const r of roots) {
    if (!existsSync(r)) continue;
    for (const c of await img.chain(r)) needed.add(c.filename);
  }
  for (const f of readdirSync(paths.dir)) {
    const p = join(paths.dir, f);
    if (LAYER.test(f) && !needed.has(p)) { rmSync(p, { force: true }); removed.push(f); }
  }
  return removed;
}

/** Bytes a file really takes on disk (sparse-aware). */
export function allocatedBytes(path: string): number {
  try { return statSync(path).blocks * 512; } catch { return 0; }
}
