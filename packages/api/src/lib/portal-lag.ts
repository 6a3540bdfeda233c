// How long this portal process itself stood still lately: a node's heartbeat that waited behind a
// busy event loop is the portal's delay, not the node's silence (services/node/node-health.ts).
import { monitorEventLoopDelay, type IntervalHistogram } from "node:perf_hooks";

/** The clock ticks this often; a tick that comes later than this plus SLACK_MS was a stall. */
const TICK_MS = 250;
const SLACK_MS = 20;
/** Stalls older than this are forgotten (far beyond any node-down threshold). */
const KEEP_MS = 10 * 60_000;
const MAX_STALLS = 20_000;

interface LagClock {
  /** [when the late tick ran (ms since epoch), how late it was (ms)], oldest first. */
  stalls: Array<[number, number]>;
  timer: NodeJS.Timeout;
  delay: IntervalHistogram;
}

// On globalThis: Next.js may load this module once per route bundle; one clock per process.
const KEY = Symbol.for("vdi.portal-lag");
const g = globalThis as unknown as Record<symbol, LagClock | undefined>;

function clock(): LagClock {
  let c = g[KEY];
  if (!c) {
    const stalls: Array<[number, number]> = [];
    let expected = Date.now() + TICK_MS;
    const timer = setInterval(() => {
      const now = Date.now();
      const late = now - expected;
      expected = now + TICK_MS;
      if (late <= SLACK_MS) return;
      stalls.push([now, late]);
      while (stalls.length > MAX_STALLS || (stalls.length && stalls[0]![0] < now - KEEP_MS)) stalls.shift();
    }, TICK_MS);
    timer.unref();
    const delay = monitorEventLoopDelay({ resolution: 20 });
    delay.enable();
    c = { stalls, timer, delay };
    g[KEY] = c;
  }
  return c;
}

/** Starts the clock (the first call of stalledMsSince does too; a portal starts it at boot). */
export function startPortalLagClock(): void {
  clock();
}

/**
 * How many ms of [since, now] this process could not run timers on time: the sum of late ticks'
 * delays (the part of each inside the interval). 0 for a process that kept up.
 */
export function stalledMsSince(since: number, now = Date.now()): number {
  const { stalls } = clock();
  let total = 0;
  for (let i = stalls.length - 1; i >= 0; i--) {
    const [at, late] = stalls[i]!;
    if (at <= since) break;
    if (at > now) continue;
    total += Math.min(late, at - since);
  }
  return total;
}

/** The event loop's delay lately (for logs and benchmarks): p50/p99/max in ms. */
export function eventLoopDelayMs(): { p50: number; p99: number; max: number } {
  const { delay } = clock();
  return { p50: delay.percentile(50) / 1e6, p99: delay.percentile(99) / 1e6, max: delay.max / 1e6 };
}
