// The seat.timers job (docs/seating.md): the two timers every broker keeps apart.
// - Idle: a session without input for the pool's idleLogoffMinutes is logged off.
// - Disconnect: a pool desktop whose user has gone (logged out, or the kiosk went silent) for the
//   pool's disconnectMinutes is saved to disk and its RAM freed (persistent), or thrown away
//   (non-persistent). The next login restores it (start on connect).
import type { Db } from "@vdi/db";
import { endSeatSessions, resetIfNonPersistent, SEAT_HEARTBEAT_GRACE_MS } from "./seat-session.ts";
import { changeVmState } from "../vm/change-vm-state.ts";
import { actorOfUser } from "../auth/actor-of-user.ts";
import type { JobDeps } from "../jobs/job-kinds.ts";

/** Seats without a pool (the user's own desktop): logged off after this long without input. */
export const OWN_DESKTOP_IDLE_MINUTES = 60;
export const SEAT_TIMERS_EVERY_MS = 15_000;

const minutes = (n: number) => n * 60_000;

export async function runSeatTimers(deps: JobDeps): Promise<number> {
  const { db } = deps;
  const now = Date.now();
  const open = await db.seatSession.findMany({ where: { endedAt: null }, take: 5_000 });
  const pools = new Map((await db.desktopPool.findMany({ where: { id: { in: [...new Set(open.flatMap((s) => (s.poolId ? [s.poolId] : [])))] } } })).map((p) => [p.id, p]));
  for (const s of open) {
    const pool = s.poolId ? pools.get(s.poolId) : undefined;
    const idle = pool?.idleLogoffMinutes ?? OWN_DESKTOP_IDLE_MINUTES;
    if (now - s.lastInputAt.getTime() > minutes(idle)) {
      await endSeatSessions(deps, { id: s.id, endedAt: null }, `logged off after ${idle} minute${idle === 1 ? "" : "s"} without input`, { reset: true });
    }
  }
  await disconnectTimers(deps, db, now);
  return SEAT_TIMERS_EVERY_MS;
}

async function disconnectTimers(deps: JobDeps, db: Db, now: number) {
  const assigned = await db.poolDesktop.findMany({ where: { state: "assigned" }, include: { pool: true }, take: 5_000 });
  for (const d of assigned) {
    const last = await db.seatSession.findFirst({ where: { vmId: d.vmId }, orderBy: { startedAt: "desc" } });
    // Not used at a seat yet (just handed out): counted from the hand-out.
    const heard = last ? (last.endedAt ?? last.lastSeenAt).getTime() : (d.assignedAt ?? d.createdAt).getTime();
    if (last && !last.endedAt && now - last.lastSeenAt.getTime() <= SEAT_HEARTBEAT_GRACE_MS) continue;  // in use
    if (now - heard <= minutes(d.pool.disconnectMinutes) + (last && !last.endedAt ? SEAT_HEARTBEAT_GRACE_MS : 0)) continue;
    const why = `disconnected for ${d.pool.disconnectMinutes} minute${d.pool.disconnectMinutes === 1 ? "" : "s"}`;
    if (d.pool.policy === "nonpersistent") {
      if (last && !last.endedAt) await endSeatSessions(deps, { id: last.id, endedAt: null }, why, { reset: true });
      else await resetIfNonPersistent(db, d.poolId, d.vmId);
      continue;
    }
    if (last && !last.endedAt) await endSeatSessions(deps, { id: last.id, endedAt: null }, why, { reset: false });
    // Persistent: saved to disk, its RAM freed, if it is running with nothing else in flight.
    const vm = await db.vm.findUnique({ where: { id: d.vmId }, include: { owner: true, operations: { where: { status: { in: ["pending", "running"] } }, take: 1 } } });
    if (!vm || vm.actualState !== "running" || vm.desiredState !== "running" || vm.operations.length) continue;
    await changeVmState({ db, nodeDownAfterMs: deps.nodeDownAfterMs, ip: null }, actorOfUser(vm.owner, "session", null), { vmId: vm.id, action: "save" })
      .catch((e: Error) => console.error(`seat timers: cannot save ${vm.name}: ${e.message}`));
  }
}
