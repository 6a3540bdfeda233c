// What a VM keeps on disk, apart from its engine process: its disk (or, for microVMs, the marker
// that it was prepared), the layers its snapshots freeze, clones, growth, template export and the
// tidy-up after an interrupted operation. One storage per engine (engines/<name> names its own);
// the engine keeps process lifecycle, memory state and the steps that need both (docs/rooms.md §8).
import type { EngineVmSpec, VmPaths } from "../engines/engine.ts";

/**
 * A running VM's disk as its engine sees it. Storage works through it while the engine holds the
 * disk open (QEMU over QMP); with no running engine storage works on the files themselves.
 */
export interface LiveDisk {
  /** The file the engine writes to now, or null when it cannot say. */
  activeFile(): Promise<string | null>;
  /** From now on the engine writes to `next`, a new empty layer it makes on the current one. */
  switchTo(next: string): Promise<void>;
  /** Copies what the active layer reads through the layers above `base` into it, then drops them. */
  stream(base: string, progress?: (percent: number) => void): Promise<void>;
  /** Grows the disk the guest sees to `bytes`. */
  resize(bytes: number): Promise<void>;
}

export interface CloneSource {
  paths: VmPaths;
  snapshotDir: string | null;
  mode: "memory" | "linked" | "full";
  /** Whether the source VM's engine runs now (a full copy of a running disk would be torn). */
  running: boolean;
}

export interface ImageExport { image: string; title: string }

export interface VmStorage {
  /** Makes what the VM needs before its first start (its disk); idempotent; EngineError on failure. */
  prepare(spec: EngineVmSpec, paths: VmPaths): Promise<void>;
  isPrepared(paths: VmPaths): boolean;
  /** Makes a clone's disk or state from a source VM (or its snapshot) on this node; returns bytes written. */
  prepareClone(spec: EngineVmSpec, paths: VmPaths, src: CloneSource, progress: (p: number) => void): Promise<number>;
  /** Grows the VM's disk to `sizeGiB` (online through `live` when the VM runs). */
  growDisk(paths: VmPaths, live: LiveDisk | null, sizeGiB: number): Promise<void>;
  /** Writes a new template image from the VM's disk (or a snapshot's); returns its size in bytes. */
  exportImage(spec: EngineVmSpec, paths: VmPaths, snapshotDir: string | null, out: ImageExport, live: LiveDisk | null, progress: (p: number) => void): Promise<number>;
  /** Whether a template image of that name is complete on this node. */
  hasImage(image: string): boolean;
  /** What a complete snapshot takes on disk (its files and any disk layer it froze). */
  snapshotBytes(paths: VmPaths, dir: string): number;
  /** Removes a snapshot, keeping what the VM's disk or other snapshots still build on. */
  deleteSnapshot(paths: VmPaths, dir: string, live: LiveDisk | null, progress?: (p: number) => void): Promise<void>;
  /** Removes what an interrupted operation left on disk (temp files, unreferenced layers); returns what went. */
  cleanup(paths: VmPaths, live: LiveDisk | null): Promise<string[]>;
}
