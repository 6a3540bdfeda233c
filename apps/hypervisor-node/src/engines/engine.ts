// What the reconciler needs from an engine (QEMU, or our own microVM VMM).
import { join } from "node:path";

export interface EngineVmSpec { id: string; name: string; cpus: number; memoryMiB: number; diskGiB: number; macAddress: string; image: string }

export interface VmPaths {
  dir: string;
  disk: string;        // QEMU: the qcow2 overlay; microVM: a marker that the VM was prepared
  serialLog: string;
  engineLog: string;
  controlSock: string; // QMP (QEMU) or the VMM's control socket
  vncSock: string;     // RFB for the console gateway
  pidFile: string;
  saved: string;       // the saved state (hibernate): a file for QEMU, a snapshot folder for microVMs
}

/** Where a VM keeps its snapshots: <vm folder>/snapshots/<snapshot id>. */
export function snapshotDir(paths: VmPaths, snapshotId: string): string {
  if (!/^[a-z0-9]{1,64}$/.test(snapshotId)) throw new EngineError("invalid snapshot id");
  return join(paths.dir, "snapshots", snapshotId);
}

export function vmPaths(dir: string): VmPaths {
  return {
    dir,
    disk: join(dir, "disk.qcow2"),
    serialLog: join(dir, "serial.log"),
    engineLog: join(dir, "engine.log"),
    controlSock: join(dir, "control.sock"),
    vncSock: join(dir, "vnc.sock"),
    pidFile: join(dir, "engine.pid"),
    saved: join(dir, "saved"),
  };
}

/** A live connection to a running VM's engine. */
export interface VmHandle {
  readonly isClosed: boolean;
  /** Called once when the engine goes away; `reason` says why when the engine knows. */
  onExit(cb: (reason: string) => void): void;
  close(): void;
}

export interface Engine {
  readonly kind: "qemu" | "kvm";
  /** Makes what the VM needs before its first start (disk); idempotent; EngineError on failure. */
  prepare(spec: EngineVmSpec, paths: VmPaths): Promise<void>;
  isPrepared(paths: VmPaths): boolean;
  /** Boots the VM, or resumes it from a snapshot directory when `restoreDir` is given. */
  start(spec: EngineVmSpec, paths: VmPaths, restoreDir?: string): Promise<void>;
  /** Writes RAM and device state to paths.saved (complete or not there at all) and ends the process. */
  save(paths: VmPaths, handle: VmHandle, progress?: (percent: number) => void, fault?: (step: string) => void): Promise<void>;
  /** Starts the VM from paths.saved, exactly where it was saved. */
  startSaved(spec: EngineVmSpec, paths: VmPaths, progress?: (percent: number) => void): Promise<void>;
  runningPid(paths: VmPaths): number | null;
  attach(paths: VmPaths): Promise<VmHandle>;
  stop(paths: VmPaths, handle: VmHandle | null): Promise<void>;
  /** Freezes / thaws the vCPUs; the VM keeps its memory and its process. */
  pause(handle: VmHandle): Promise<void>;
  resume(handle: VmHandle): Promise<void>;
  isPaused(handle: VmHandle): Promise<boolean>;
  /** Writes a snapshot (disk layer and/or RAM and device state) into `dir`, which must not exist; returns what it takes on disk in bytes. */
  snapshot(paths: VmPaths, handle: VmHandle | null, dir: string, opts: SnapshotOptions): Promise<number>;
  /** What a complete snapshot takes on disk (its files and, for QEMU, its frozen disk layer). */
  snapshotBytes?(paths: VmPaths, dir: string): number;
  /** Throws when a revert to `dir` cannot work, before anything is stopped or changed. */
  checkRevert?(spec: EngineVmSpec, paths: VmPaths, dir: string): void;
  /** Takes a stopped VM back to a snapshot; true when it now runs (the snapshot had RAM). */
  revert(spec: EngineVmSpec, paths: VmPaths, dir: string, progress?: (percent: number) => void): Promise<boolean>;
  /** Removes a snapshot, keeping what the VM's disk or other snapshots still build on. */
  deleteSnapshot(paths: VmPaths, dir: string, handle?: VmHandle | null, progress?: (percent: number) => void): Promise<void>;
  /** Makes a clone's disk or state from a source VM (or its snapshot) on this node; returns bytes written. */
  prepareClone(spec: EngineVmSpec, paths: VmPaths, src: CloneSource, progress: (p: number) => void): Promise<number>;
  /** Grows the VM's disk to `sizeGiB` (online when running). */
  growDisk(paths: VmPaths, handle: VmHandle | null, sizeGiB: number): Promise<void>;
  /** Writes a new template image from the VM's disk (or a snapshot's); returns its size in bytes. */
  exportImage(spec: EngineVmSpec, paths: VmPaths, snapshotDir: string | null, out: ImageExport, progress: (p: number) => void): Promise<number>;
  /** Whether a template image of that name is complete on this node. */
  hasImage?(image: string): boolean;
  /** Removes what an interrupted operation left (temp files, unreferenced layers); returns what went. */
  cleanup(paths: VmPaths, handle: VmHandle | null): Promise<string[]>;
  /** Restarts the guest in place (QEMU: system_reset; microVM: a fresh boot). */
  reboot(spec: EngineVmSpec, paths: VmPaths, handle: VmHandle | null): Promise<void>;
}

export interface SnapshotOptions {
  withRam: boolean;
  progress(percent: number): void;
  /** Test hook: called at named steps so a test can kill a process exactly there. */
  fault?(step: string): void;
  /** The VM's size when the snapshot is taken: a RAM state only loads into the same size. */
  size?: { cpus: number; memoryMiB: number };
}

export interface CloneSource { paths: VmPaths; snapshotDir: string | null; mode: "memory" | "linked" | "full" }

export interface ImageExport { image: string; title: string }

export class EngineError extends Error {}

/** Unix socket paths are limited to 108 bytes (sun_path) including the terminator. */
export const MAX_SOCKET_PATH = 107;

export function checkSocketPaths(paths: VmPaths): void {
  for (const p of [paths.controlSock, paths.vncSock]) {
    if (Buffer.byteLength(p) > MAX_SOCKET_PATH) throw new EngineError(`Socket path too long for a unix socket: ${p} (use a shorter data directory)`);
  }
}

/** The pid in the VM's pid file if that process is alive and is this VM's engine (not a reused pid). */
export function pidOfVm(paths: VmPaths, readFile: (p: string) => string): number | null {
  let pid: number;
  try {
    pid = Number.parseInt(readFile(paths.pidFile).trim(), 10);
  } catch {
    return null;
  }
  if (!Number.isInteger(pid) || pid <= 1) return null;
  try {
    return readFile(`/proc/${pid}/cmdline`).includes(paths.controlSock) ? pid : null;
  } catch {
    return null;
  }
}

export async function waitGone(isRunning: () => boolean, ms: number): Promise<boolean> {
  const deadline = Date.now() + ms;
  while (Date.now() < deadline) {
    if (!isRunning()) return true;
    await new Promise((r) => setTimeout(r, 25));
  }
  return !isRunning();
}
