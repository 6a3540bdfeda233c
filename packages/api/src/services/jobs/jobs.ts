// The jobs room (docs/seating.md): the portal's control loops as rows of the Job table. A runner
// claims a due job by a conditional update of its lease, so two portals (or one restarted while
// a job ran) never run one job at once, and a job whose runner died is taken again once its lease
// ends. Each kind's handler comes from a table; it returns when to run again (ms), or null to end.
import { randomBytes } from "node:crypto";
import type { Db } from "@vdi/db";
import type { JobDeps } from "./job-kinds.ts";
import { JOB_KINDS } from "./job-kinds.ts";

/** A claimed job is its runner's for this long; a handler takes far less. */
export const JOB_LEASE_MS = 120_000;
/** How many due jobs one pass claims. */
const BATCH = 20;

export type JobKindName = keyof typeof JOB_KINDS;

/** Asks for `kind` on `key` to run at `runAt` (default now), or sooner if it is due sooner already. */
export async function scheduleJob(db: Db, kind: JobKindName, key: string, runAt = new Date()): Promise<void> {
  const jobKey = `${kind}:${key}`;
  try {
    await db.job.upsert({ where: { key: jobKey }, create: { kind, key: jobKey, runAt }, update: {} });
  } catch (e) {
    if ((e as { code?: string }).code !== "P2002") throw e;  // made at the same moment by another caller
  }
  await db.job.updateMany({ where: { key: jobKey, runAt: { gt: runAt } }, data: { runAt } });
}

/** Claims and runs the jobs due now; returns how many ran. `owner` names this runner. */
export async function runDueJobs(deps: JobDeps, owner: string, now = new Date()): Promise<number> {
  const { db } = deps;
  const free = { OR: [{ leaseUntil: null }, { leaseUntil: { lt: now } }] };
  const due = await db.job.findMany({ where: { runAt: { lte: now }, ...free }, orderBy: { runAt: "asc" }, take: BATCH });
  let ran = 0;
  for (const job of due) {
    const claimed = await db.job.updateMany({
      where: { id: job.id, runAt: job.runAt, ...free },
      data: { leaseOwner: owner, leaseUntil: new Date(Date.now() + JOB_LEASE_MS), attempts: { increment: 1 } },
    });
    if (claimed.count === 0) continue;  // another runner has it
    ran++;
    const kind = JOB_KINDS[job.kind as JobKindName];
    const param = job.key.slice(job.kind.length + 1);
    let next: number | null;
    let error: string | null = null;
    try {
      next = kind ? await kind.run(deps, param) : null;
    } catch (e) {
      error = e instanceof Error ? e.message : String(e);
      // Failing again and again waits longer each time, up to five minutes.
      next = Math.min(300_000, 5_000 * 2 ** Math.min(job.attempts, 6));
      console.error(`job ${job.key} failed (attempt ${job.attempts + 1}): ${error}`);
    }
    const release = { leaseOwner: null, leaseUntil: null, lastError: error?.slice(0, 500) ?? null, ...(error === null ? { attempts: 0 } : {}) };
    if (next === null) {
      // Unless it was asked for again while it ran.
      const gone = await db.job.deleteMany({ where: { id: job.id, leaseOwner: owner, runAt: job.runAt } });
      if (gone.count === 0) await db.job.updateMany({ where: { id: job.id, leaseOwner: owner }, data: release });
    } else {
      const runAt = new Date(Date.now() + next);
      // Asked for again while it ran (runAt moved): that time stays, if sooner.
      const moved = await db.job.updateMany({ where: { id: job.id, leaseOwner: owner, runAt: job.runAt }, data: { ...release, runAt } });
      if (moved.count === 0) await db.job.updateMany({ where: { id: job.id, leaseOwner: owner }, data: release });
    }
  }
  return ran;
}

/** Runs due jobs every `intervalMs` in this process until stopped. */
export function startJobRunner(deps: JobDeps, opts: { intervalMs?: number; owner?: string } = {}): { stop(): void; owner: string } {
  const owner = opts.owner ?? `portal-${process.pid}-${randomBytes(4).toString("hex")}`;
  let busy = false;
  let stopped = false;
  const tick = async () => {
    if (busy || stopped) return;
    busy = true;
    try {
      await runDueJobs(deps, owner);
    } catch (e) {
      console.error(`jobs: ${e instanceof Error ? e.message : String(e)}`);
    } finally {
      busy = false;
    }
  };
  const timer = setInterval(() => void tick(), opts.intervalMs ?? 2_000);
  timer.unref();
  void tick();
  return { owner, stop() { stopped = true; clearInterval(timer); } };
}
