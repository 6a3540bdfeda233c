// Finds this host's processes by what their command line names (helpers QEMU or the agent ran
// for a VM: the shell behind a migration pipe, a qemu-img copy), to wait for them or end them.
import { readdirSync, readFileSync, readlinkSync } from "node:fs";

/** Pids of live processes whose command line contains `needle` (never this process). */
export function processesMentioning(needle: string): number[] {
  const out: number[] = [];
  let entries: string[];
  try { entries = readdirSync("/proc"); } catch { return out; }
  for (const e of entries) {
    if (!/^\d+$/.test(e) || Number(e) === process.pid) continue;
    try {
      const stat = readFileSync(`/proc/${e}/stat`, "utf8");
      if (/^\d+ \(.*\) Z/.test(stat)) continue; // a zombie has finished its work
      if (readFileSync(`/proc/${e}/cmdline`, "utf8").includes(needle)) out.push(Number(e));
    } catch { /* it ended while we looked */ }
  }
  return out;
}

/** SIGKILLs what `processesMentioning` finds, except `keep`; returns how many it ended. */
export function killProcessesMentioning(needle: string, keep: (number | null)[] = []): number {
  let n = 0;
  for (const pid of processesMentioning(needle)) {
    if (keep.includes(pid)) continue;
    try { process.kill(pid, "SIGKILL"); n++; } catch { /* gone */ }
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
