// Finds this host's processes by what their command line names (helpers QEMU or the agent ran
// for a VM: the shell behind a migration pipe, a qemu-img copy), to wait for them or end them.
import { readdirSync, readFileSync, readlinkSync } from "node:fs";

/**
 * Every live process's command line (never this process's; zombies have finished their work).
 * `strict`: an unreadable /proc (EMFILE…) throws instead of giving a short table, so "no such
 * process" is a real answer; a process that ends while we look is skipped either way.
 */
export function processCommandLines(strict = false): { pid: number; cmdline: string }[] {
  const out: { pid: number; cmdline: string }[] = [];
  let entries: string[];
  try { entries = readdirSync("/proc"); } catch (err) { if (strict) throw err; return out; }
  for (const e of entries) {
    if (!/^\d+$/.test(e) || Number(e) === process.pid) continue;
    try {
      if (/^\d+ \(.*\) Z/.test(readFileSync(`/proc/${e}/stat`, "utf8"))) continue;
      out.push({ pid: Number(e), cmdline: readFileSync(`/proc/${e}/cmdline`, "utf8") });
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if (strict && code !== "ENOENT" && code !== "ESRCH") throw err;
    }
  }
  return out;
}

/** Pids of live processes whose command line contains `needle`, from a strict fresh look (throws on a failed one). */
export function processesMentioningStrict(needle: string): number[] {
  return processesMentioning(needle, processCommandLines(true));
}

/** Pids of live processes whose command line contains `needle` (from `procs`, or a fresh look). */
export function processesMentioning(needle: string, procs = processCommandLines()): number[] {
  return procs.filter((p) => p.cmdline.includes(needle)).map((p) => p.pid);
}

/** SIGKILLs what `processesMentioning` finds, except `keep`; returns how many it ended. */
export function killProcessesMentioning(needle: string, keep: (number | null)[] = [], procs?: { pid: number; cmdline: string }[]): number {
  let n = 0;
  for (const pid of processesMentioning(needle, procs)) {
    if (keep.includes(pid)) continue;
    try {
      // Still that process (a snapshot of the table may be a while old: never a reused pid).
      if (!readFileSync(`/proc/${pid}/cmdline`, "utf8").includes(needle)) continue;
      process.kill(pid, "SIGKILL");
      n++;
    } catch { /* gone */ }
  }
  return n;
}

/** How far (bytes) some process reading `file` has got, from /proc/<pid>/fdinfo; null when none is. */
export function readPositionOf(file: string): number | null {
  for (const pid of processesMentioning(file)) {
    let fds: string[];
    try { fds = readdirSync(`/proc/${pid}/fd`); } catch { continue; }
    for (const fd of fds) {
      try {
        if (readlinkSync(`/proc/${pid}/fd/${fd}`) !== file) continue;
        const pos = /^pos:\s+(\d+)/m.exec(readFileSync(`/proc/${pid}/fdinfo/${fd}`, "utf8"));
        if (pos) return Number(pos[1]);
      } catch { /* closed meanwhile */ }
    }
  }
  return null;
}
