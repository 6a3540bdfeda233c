// Seat sessions (docs/seating.md): a user at a seat, on one desktop. Logging in at a seat ends
// the user's session anywhere else ("continued at seat B") and any other user's session at this
// seat; nodes learn ended sessions in their sync and close those consoles with the reason. The
// kiosk polls its session (a heartbeat, with whether the user typed): the seat timers job ends
// idle sessions and saves (or resets) desktops whose user has gone.
import type { Db } from "@vdi/db";
import type { Actor } from "../../context.ts";
import { AppError } from "../../errors.ts";
import { bus, nodeTopic, tenantTopic } from "../../lib/bus.ts";
import type { ConsoleSigner } from "@vdi/node-protocol/capability-token";
import type { ConsoleProtocol } from "@vdi/node-protocol";
import { consolesOf } from "@vdi/node-protocol";
import { broker, bringUp, type BrokerDeps } from "./broker.ts";
import { checkSeat } from "./seats.ts";
import { openConsole } from "../console/open-console.ts";
import { scheduleJob } from "../jobs/jobs.ts";
import { SEAT_TIMERS_EVERY_MS } from "./seat-timers.ts";
import { answerShadow, shadowBanner } from "./session-admin.ts";

type SeatAuth = { seatId: string; secret: string };
type SessionWhere = { id?: string; userId?: string; seatId?: string; endedAt: null; NOT?: { id: string } };

/**
 * Ends the open sessions matching `where` with `reason`; their nodes hear of it at once. A
 * non-persistent desktop whose session ends for good (`reset`) goes back to the pool to be thrown
 * away and replaced. Returns the sessions ended.
 */
export async function endSeatSessions(deps: { db: Db }, where: SessionWhere, reason: string, opts: { reset: boolean }) {
  const { db } = deps;
  const open = await db.seatSession.findMany({ where });
  const ended = [];
  for (const s of open) {
    const done = await db.seatSession.updateMany({ where: { id: s.id, endedAt: null }, data: { endedAt: new Date(), endReason: reason.slice(0, 200) } });
    if (done.count === 0) continue;
    ended.push(s);
    await db.sessionShadow.updateMany({ where: { sessionId: s.id, endedAt: null }, data: { endedAt: new Date(), endReason: `the session ended: ${reason}`.slice(0, 200) } });
    if (opts.reset && s.poolId) await resetIfNonPersistent(db, s.poolId, s.vmId);
    const vm = await db.vm.findUnique({ where: { id: s.vmId }, select: { nodeId: true } });
    if (vm) bus().emit(nodeTopic(vm.nodeId));
  }
  return ended;
}

/** A non-persistent pool's desktop, its user gone: marked for reset (the refill job deletes and replaces it). */
export async function resetIfNonPersistent(db: Db, poolId: string, vmId: string) {
  const pool = await db.desktopPool.findUnique({ where: { id: poolId }, select: { policy: true } });
  if (pool?.policy !== "nonpersistent") return;
  await db.poolDesktop.updateMany({ where: { vmId, state: "assigned" }, data: { state: "resetting" } });
  await scheduleJob(db, "pool.refill", poolId);
}

async function seatOf(db: Db, actor: Actor, auth: SeatAuth) {
  const seat = await checkSeat(db, auth);
  if (seat.tenantId !== actor.tenantId) throw new AppError("FORBIDDEN", { message: "This seat belongs to another organization: log in at one of yours" });
  return seat;
}

async function openSessionOf(db: Db, actor: Actor, seatId: string, sessionId: string) {
  const s = await db.seatSession.findUnique({ where: { id: sessionId } });
  if (!s || s.userId !== actor.userId || s.seatId !== seatId) throw new AppError("NOT_FOUND", { message: "Seat session not found" });
  return s;
}

/**
 * The user logs in at a seat: the broker finds (or makes, or starts) their desktop, the session
 * opens, and the user's session elsewhere ends. `authMs` is what the kiosk measured of the login.
 */
export async function connectAtSeat(deps: BrokerDeps, actor: Actor, input: SeatAuth & { authMs: number }) {
  const t0 = performance.now();
  const { db } = deps;
  const seat = await seatOf(db, actor, input);
  // The same user at the same seat again (the page reloaded): the same session.
  const again = await db.seatSession.findFirst({ where: { seatId: seat.id, userId: actor.userId, endedAt: null }, orderBy: { startedAt: "desc" } });
  if (again) return { sessionId: again.id, vmId: again.vmId, path: "running" as const };
  const got = await broker(deps, actor, seat.pool);
  const session = await db.seatSession.create({ data: { tenantId: seat.tenantId, seatId: seat.id, userId: actor.userId, vmId: got.vmId, poolId: got.poolId } });
  // Roaming: the user's session at another seat ends, and its console closes with where they went.
  await endSeatSessions(deps, { userId: actor.userId, endedAt: null, NOT: { id: session.id } }, `continued at seat ${seat.name}`, { reset: false });
  // One user per seat: whoever was still logged in here is logged out.
  await endSeatSessions(deps, { seatId: seat.id, endedAt: null, NOT: { id: session.id } }, `another user logged in at seat ${seat.name}`, { reset: true });
  const brokerMs = Math.round(performance.now() - t0);
  await db.loginTiming.create({
    data: { tenantId: seat.tenantId, poolId: got.poolId, seatId: seat.id, userId: actor.userId, sessionId: session.id, path: got.path, authMs: Math.round(input.authMs), brokerMs, startMs: got.path === "running" || got.path === "warm" ? 0 : null },
  });
  await db.seat.update({ where: { id: seat.id }, data: { lastSeenAt: new Date() } });
  // The timers (idle, disconnect) watch every open session.
  await scheduleJob(db, "seat.timers", "all", new Date(Date.now() + SEAT_TIMERS_EVERY_MS));
  bus().emit(tenantTopic(seat.tenantId));
  return { sessionId: session.id, vmId: got.vmId, path: got.path };
}

/** How long the kiosk may be silent before its user counts as disconnected (it beats every few seconds). */
export const SEAT_HEARTBEAT_GRACE_MS = 30_000;

/**
 * The kiosk's poll: the session's state (ended, and why), its desktop's state and the progress of
 * what brings it up. Also the heartbeat: `input` says the user typed or moved since the last one.
 * A desktop that is saved or stopped while its user waits is started (start on connect).
 */
export async function seatSessionState(deps: BrokerDeps, actor: Actor, input: SeatAuth & { sessionId: string; input: boolean }) {
  const { db } = deps;
  const seat = await seatOf(db, actor, input);
  const s = await openSessionOf(db, actor, seat.id, input.sessionId);
  if (s.endedAt) return { ended: s.endReason ?? "the session ended", vm: null, progress: null };
  const now = new Date();
  await db.seatSession.update({ where: { id: s.id }, data: { lastSeenAt: now, ...(input.input ? { lastInputAt: now } : {}) } });
  const vm = await db.vm.findUnique({
    where: { id: s.vmId },
    include: { template: { select: { consoles: true } }, operations: { orderBy: { createdAt: "desc" }, take: 1 } },
  });
  if (!vm || vm.desiredState === "deleted") {
    await endSeatSessions(deps, { id: s.id, endedAt: null }, "the desktop was deleted", { reset: true });
    return { ended: "the desktop was deleted", vm: null, progress: null };
  }
  const op = vm.operations[0];
  const inFlight = !!op && (op.status === "pending" || op.status === "running");
  // Bringing it up failed in this session: the seat says so (below), it is not tried again behind the user's back.
  const failedHere = !!op && op.status === "failed" && op.createdAt.getTime() >= s.startedAt.getTime() - 5_000;
  if (!inFlight && !failedHere && (vm.actualState === "saved" || vm.actualState === "stopped" || vm.actualState === "paused")) {
    await bringUp(deps, actor, vm.id, "started").catch(() => undefined);
  }
  // What bringing the desktop up took (its operation's own times), once it is up.
  if (op && op.status === "succeeded" && op.finishedAt && (vm.actualState === "running")) {
    await db.loginTiming.updateMany({ where: { sessionId: s.id, startMs: null }, data: { startMs: Math.max(0, op.finishedAt.getTime() - Math.max(op.createdAt.getTime(), s.startedAt.getTime())) } });
  }
  return {
    ended: null,
    shadow: await shadowBanner(db, s.id),
    vm: { id: vm.id, name: vm.name, state: vm.actualState, reason: vm.stateReason, consoles: consolesOf(vm.template.consoles) },
    // A failure is the seat's news only when it is of bringing the desktop up for this session.
    progress: op && inFlight ? { kind: op.kind, progress: op.progress }
      : op && failedHere && vm.actualState !== "running" && vm.actualState !== "paused"
        ? { kind: op.kind, progress: op.progress, error: op.error ?? "the operation failed" } : null,
  };
}

/** The user at the seat answers the helpdesk banner (allow or refuse control, take it back, end it). */
export async function answerShadowAtSeat(db: Db, actor: Actor, input: SeatAuth & { sessionId: string; shadowId: string; answer: "allow" | "refuse" | "take-back" | "stop" }) {
  const seat = await seatOf(db, actor, input);
  const s = await openSessionOf(db, actor, seat.id, input.sessionId);
  if (s.endedAt) throw new AppError("INVALID_STATE", { message: `This seat session ended: ${s.endReason ?? "log in again"}` });
  return answerShadow(db, s, input);
}

/** Log out at the seat: the session ends (a non-persistent desktop goes back to be reset). */
export async function endAtSeat(deps: { db: Db }, actor: Actor, input: SeatAuth & { sessionId: string }) {
  const seat = await seatOf(deps.db, actor, input);
  await openSessionOf(deps.db, actor, seat.id, input.sessionId);
  await endSeatSessions(deps, { id: input.sessionId, endedAt: null }, `logged out at seat ${seat.name}`, { reset: true });
  return { ended: true };
}

/** A console token for the session's desktop, bound to the session: it closes when the session ends. */
export async function seatConsole(
  deps: { db: Db; consoleSigner: ConsoleSigner; nodeDownAfterMs: number; ip: string | null },
  actor: Actor,
  input: SeatAuth & { sessionId: string; protocol?: ConsoleProtocol | undefined },
) {
  const seat = await seatOf(deps.db, actor, input);
  const s = await openSessionOf(deps.db, actor, seat.id, input.sessionId);
  if (s.endedAt) throw new AppError("INVALID_STATE", { message: `This seat session ended: ${s.endReason ?? "log in again"}` });
  return openConsole(deps, actor, s.vmId, input.protocol, { seatSession: s.id });
}

/** The kiosk drew the desktop's first frame `ms` after the login began: the breakdown's last phase. */
export async function reportFirstFrame(db: Db, actor: Actor, input: SeatAuth & { sessionId: string; ms: number }) {
  const seat = await seatOf(db, actor, input);
  await openSessionOf(db, actor, seat.id, input.sessionId);
  await db.loginTiming.updateMany({ where: { sessionId: input.sessionId, firstFrameMs: null }, data: { firstFrameMs: Math.round(input.ms) } });
  return { ok: true };
}
