// What the reconciler needs from an engine (QEMU, or our own microVM VMM): the process
// lifecycle (start, stop, pause, attach, save and resume of memory, reboot) and the steps that
// need the process and the disk at once (a snapshot, a revert). What stays on disk is the
// engine's storage (storage/), reached as `engine.storage`.
import { readFileSync, statSync } from "node:fs";
import { join } from "node:path";
import { defaultNics, type EngineName, type Nic } from "@vdi/node-protocol";
import { processesMentioningStrict } from "../lib/processes.ts";
import type { LiveDisk, VmStorage } from "../storage/storage.ts";

export interface EngineVmSpec {
  id: string; name: string; cpus: number; memoryMiB: number; diskGiB: number; image: string;
  /** The VM's network cards, in order (nicsOf() fills them for records that predate the list). */
  nics?: Nic[] | undefined;
  /** The first card's MAC (kept for records and callers that predate `nics`). */
  macAddress: string;
}

/** The VM's network cards: the spec's list, or one user-mode card with the VM's MAC. */
export function nicsOf(spec: EngineVmSpec): Nic[] {
  return spec.nics?.length ? spec.nics : defaultNics(spec.macAddress);
}

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

import type { RdpEndpoint } from "../rdp/rdp-stream.ts";

export interface Engine {
  readonly kind: EngineName;
  /** The engine is the agent's direct child (child_process, which libuv reaps), not a daemon the agent adopts. */
  readonly spawnedChild?: boolean;
  /** What the VM keeps on disk: disk, layers, clones, growth, export, tidy-up (storage/). */
  readonly storage: VmStorage;
  /** Boots the VM, or resumes it from a snapshot directory when `restoreDir` is given. */
  start(spec: EngineVmSpec, paths: VmPaths, restoreDir?: string): Promise<void>;
  /** Writes RAM and device state to paths.saved (complete or not there at all) and ends the process. */
  save(paths: VmPaths, handle: VmHandle, progress?: (percent: number) => void): Promise<void>;
  /** Starts the VM from paths.saved, exactly where it was saved. */
  startSaved(spec: EngineVmSpec, paths: VmPaths, progress?: (percent: number) => void): Promise<void>;
  runningPid(paths: VmPaths): number | null;
  attach(paths: VmPaths): Promise<VmHandle>;
  /**
   * Ends the VM's process. With `shutdown`, the guest is asked first (QEMU: the ACPI power button)
   * and given `graceMs` to power itself off; then, or when `abandon()` says so, it is powered off.
   * Resolves with how it ended ("guest": it shut down by itself; "forced").
   */
  stop(paths: VmPaths, handle: VmHandle | null, shutdown?: GracefulShutdown): Promise<StopOutcome | void>;
  /** How long this VM's guest gets to shut down by itself (0: it cannot, it is powered off at once). */
  shutdownGraceMs?(spec: EngineVmSpec): number;
  /** Freezes / thaws the vCPUs; the VM keeps its memory and its process. */
  pause(handle: VmHandle): Promise<void>;
  resume(handle: VmHandle): Promise<void>;
  isPaused(handle: VmHandle): Promise<boolean>;
  /** The running VM's disk as the engine holds it, for storage to work through; null when it does not run (or has no disk). */
  liveDisk(paths: VmPaths, handle: VmHandle | null): LiveDisk | null;
  /** Writes a snapshot (disk layer and/or RAM and device state) into `dir`, which must not exist; returns what it takes on disk in bytes. */
  snapshot(paths: VmPaths, handle: VmHandle | null, dir: string, opts: SnapshotOptions): Promise<number>;
  /** Throws when a revert to `dir` cannot work, before anything is stopped or changed. */
  checkRevert?(spec: EngineVmSpec, paths: VmPaths, dir: string): void;
  /** Takes a stopped VM back to a snapshot; true when it now runs (the snapshot had RAM). */
  revert(spec: EngineVmSpec, paths: VmPaths, dir: string, progress?: (percent: number) => void): Promise<boolean>;
  /** Removes what an interrupted operation left of the engine's own work (a migration, a half-written saved state); returns what went. */
  cleanup(paths: VmPaths, handle: VmHandle | null): Promise<string[]>;
  /** Restarts the guest in place (QEMU: system_reset; microVM: a fresh boot). */
  reboot(spec: EngineVmSpec, paths: VmPaths, handle: VmHandle | null): Promise<void>;
  /** Where the running VM's desktop takes RDP here, or why it does not (engines without desktops leave it out). */
  rdpEndpoint?(paths: VmPaths): RdpEndpoint | string;
}

export interface GracefulShutdown {
  graceMs: number;
  /** Checked while the guest shuts down: true cuts it short (the user asked for a power off). */
  abandon?: () => boolean;
}
export type StopOutcome = "guest" | "forced";

export interface SnapshotOptions {
  withRam: boolean;
  progress(percent: number): void;
  /** The VM's size when the snapshot is taken: a RAM state only loads into the same size. */
  size?: { cpus: number; memoryMiB: number };
}

export type { CloneSource, ImageExport, LiveDisk, VmStorage } from "../storage/storage.ts";

export class EngineError extends Error {}

/** Unix socket paths are limited to 108 bytes (sun_path) including the terminator. */
export const MAX_SOCKET_PATH = 107;

export function checkSocketPaths(paths: VmPaths): void {
  for (const p of [paths.controlSock, paths.vncSock]) {
    if (Buffer.byteLength(p) > MAX_SOCKET_PATH) throw new EngineError(`Socket path too long for a unix socket: ${p} (use a shorter data directory)`);
  }
}

/**
 * The engine could not be looked up (EMFILE, EACCES, EIO…): nobody knows whether the VM runs. Never
 * read as "stopped": a VM taken for stopped is started twice, and its pid file and sockets go.
 */
export class EngineLookupError extends EngineError {}

/** Only these say for sure that a process (or its pid file) is not there. */
const GONE = new Set(["ENOENT", "ESRCH"]);
const errCode = (e: unknown) => (e as NodeJS.ErrnoException).code ?? "error";

export interface ProcessTable {
  readFile(path: string): string;
  /** Live processes whose command line mentions `needle`; throws (not []) when /proc cannot be read. */
  mentioning(needle: string): number[];
}

/**
 * The pid of the VM's engine, null only when it definitely does not run. The engine is known by
 * what it holds: its command line names the VM's control socket (QMP, or the VMM's `--control`).
 * The pid file is the quick way to it; when it is missing or names another program, the host's
 * processes are searched for the socket's holder, so a lost pid file never makes a running VM
 * look stopped. Any I/O error on the way throws EngineLookupError.
 */
export function pidOfVm(paths: VmPaths, procs: ProcessTable): number | null {
  let pid = Number.NaN;
  try {
    pid = Number.parseInt(procs.readFile(paths.pidFile).trim(), 10);
  } catch (e) {
    if (!GONE.has(errCode(e))) throw new EngineLookupError(`Cannot tell whether the VM runs: reading its pid file failed (${errCode(e)})`);
  }
  if (Number.isInteger(pid) && pid > 1) {
    try {
      if (procs.readFile(`/proc/${pid}/cmdline`).includes(paths.controlSock)) return pid;
    } catch (e) {
      if (!GONE.has(errCode(e))) throw new EngineLookupError(`Cannot tell whether the VM runs: reading /proc/${pid} failed (${errCode(e)})`);
    }
  }
  // No engine behind the pid file. Without a control socket on disk none ever started (or it left
  // cleanly); with one, whoever holds it is the engine.
  try {
    statSync(paths.controlSock);
  } catch (e) {
    if (GONE.has(errCode(e))) return null;
    throw new EngineLookupError(`Cannot tell whether the VM runs: ${paths.controlSock}: ${errCode(e)}`);
  }
  let holders: number[];
  try {
    holders = procs.mentioning(paths.controlSock);
  } catch (e) {
    throw new EngineLookupError(`Cannot tell whether the VM runs: the process table cannot be read (${errCode(e)})`);
  }
  return holders[0] ?? null;
}

/** The host's process table, read strictly: an error is an error, not an empty table. */
export const hostProcesses: ProcessTable = {
  readFile: (p) => readFileSync(p, "utf8"),
  mentioning: (needle) => processesMentioningStrict(needle),
};

/**
 * Before a start clears the VM's sockets and pid file: no process may hold this VM's control
 * socket (a full search, not the pid file alone), so a VM never runs twice.
 */
export function assertNotRunning(paths: VmPaths, procs: ProcessTable = hostProcesses): void {
  let pids: number[];
  try {
    pids = procs.mentioning(paths.controlSock);
  } catch (e) {
    throw new EngineLookupError(`Cannot tell whether the VM runs: the process table cannot be read (${errCode(e)})`);
  }
  if (pids.length > 0) throw new EngineError(`The VM's engine already runs (pid ${pids.join(", ")}): it is never started twice`);
}

export async function waitGone(isRunning: () => boolean, ms: number): Promise<boolean> {
  const deadline = Date.now() + ms;
  while (Date.now() < deadline) {
    if (!isRunning()) return true;
    await new Promise((r) => setTimeout(r, 25));
  }
  return !isRunning();
}
