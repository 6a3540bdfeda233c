// Engine processes held by pidfd, not by pid: a pidfd names one process for good, so a signal
// never reaches a stranger that got a recycled pid, and the process's end is heard the moment it
// happens (the addon's watch thread polls the pidfd), not when a socket happens to close. The
// agent is its engines' child subreaper: QEMU daemonizes (its parent exits), the daemon is then
// re-parented to the agent rather than to init, and the watch reaps it, so no zombie lingers.
// Without the native addon (not built) engines are found and signalled by pid as before, and the
// agent says why once.
import { closeSync, readFileSync } from "node:fs";
import { constants } from "node:os";
import { nativeAddon, nativeAddonReason, type Addon, type ProcessExit } from "../native.ts";

export type { ProcessExit };

/** A held engine process: signal it, or stop hearing about it. */
export interface EngineWatch {
  readonly pid: number;
  close(): void;
}

const SIGNAL_NAMES = new Map<number, string>(Object.entries(constants.signals).map(([name, n]) => [n, name]));

/** In words, for the VM's stop reason. */
export function describeExit(exit: ProcessExit): string {
  if (exit.signal !== null) return `killed by ${SIGNAL_NAMES.get(exit.signal) ?? `signal ${exit.signal}`}`;
  if (exit.code !== null) return `exited with status ${exit.code}`;
  return "ended";
}

export class EngineSupervisor {
  private constructor(private readonly addon: Addon | null, readonly reason: string) {}

  /** With the addon: the agent becomes a subreaper, and engines are held by pidfd. */
  static forHost(): EngineSupervisor {
    const addon = nativeAddon();
    if (!addon) return new EngineSupervisor(null, `engines held by pid only: ${nativeAddonReason()}`);
    const sub = addon.setChildSubreaper(true);
    return new EngineSupervisor(addon, `engines held by pidfd${sub ? ", the agent reaps its daemonized engines (child subreaper)" : " (PR_SET_CHILD_SUBREAPER refused: stopped engines are reaped by init)"}`);
  }

  /** Without the addon (tests of the fallback). */
  static byPid(reason: string): EngineSupervisor {
    return new EngineSupervisor(null, reason);
  }

  get usesPidfd(): boolean {
    return this.addon !== null;
  }

  /**
   * A pidfd for `pid` when that process is the engine that holds `controlSock`. The check comes
   * after the open: had the pid been recycled in between, the new process's command line would not
   * name the socket. Null when it is not (or no longer) that engine.
   */
  private open(pid: number, controlSock: string): number | null {
    if (!this.addon) return null;
    let fd: number;
    try {
      fd = this.addon.pidfdOpen(pid);
    } catch {
      return null;  // gone
    }
    try {
      if (readFileSync(`/proc/${pid}/cmdline`, "utf8").includes(controlSock)) return fd;
    } catch { /* ended meanwhile */ }
    closeSync(fd);
    return null;
  }

  /**
   * Calls `onExit` once when the engine `pid` (holding `controlSock`) ends, reaping it when asked
   * (a daemon adopted as subreaper; never a child that child_process spawned). Null without the addon, or when `pid` is not that engine.
   */
  watch(pid: number, controlSock: string, onExit: (exit: ProcessExit) => void, opts: { reap: boolean } = { reap: true }): EngineWatch | null {
    const fd = this.open(pid, controlSock);
    if (fd === null) return null;
    let open = true;
    try {
      // A child that child_process spawned is libuv's to reap: reaping it here would steal its wait.
      this.addon!.watchPidfd(fd, (exit) => { if (open) onExit(exit); }, { reap: opts.reap });
    } finally {
      closeSync(fd);  // the watch holds its own duplicate
    }
    return { pid, close: () => { open = false; } };
  }

  /**
   * Sends `signal` to the engine `pid` holding `controlSock`: through a pidfd when the addon is
   * there (a recycled pid cannot be hit), else by pid. False when it is not running.
   */
  signal(pid: number, controlSock: string, signal: NodeJS.Signals): boolean {
    if (!this.addon) {
      try { process.kill(pid, signal); return true; } catch { return false; }
    }
    const fd = this.open(pid, controlSock);
    if (fd === null) return false;
    try {
      this.addon.pidfdSendSignal(fd, constants.signals[signal]);
      return true;
    } catch {
      return false;
    } finally {
      closeSync(fd);
    }
  }
}
