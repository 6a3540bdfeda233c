// The jobs room's table of kinds: each handler runs one job (its key's part after the kind) and
// says when to run again. A new control loop is a row here.
import type { Db } from "@vdi/db";
import { refillPool } from "../seat/pool-refill.ts";
import { runSeatTimers } from "../seat/seat-timers.ts";

export interface JobDeps { db: Db; nodeDownAfterMs: number }

export interface JobKind {
  /** Runs the job for `key`; returns milliseconds until it runs again, or null when it is done. */
  run(deps: JobDeps, key: string): Promise<number | null>;
}

export const JOB_KINDS = {
  /** Keeps a pool's warm set filled and throws away its used non-persistent desktops. */
  "pool.refill": { run: (deps, poolId) => refillPool(deps, poolId) },
  /** Ends idle seat sessions; saves (or resets) pool desktops whose user has gone. */
  "seat.timers": { run: (deps) => runSeatTimers(deps) },
} satisfies Record<string, JobKind>;
