// Seat sessions seen by a tenant admin (docs/seating.md): who sits where, connected or gone since
// when; disconnect or log off a session; and helpdesk shadowing: an admin watches a user's live
// session, view only, until the user accepts to give control. The user sees a banner all along and
// can end it; every step is a mutation, so the audit trail records it.
// A shadow row is one grant (view, or control): a change ends the row and opens the next, so the
// node closes the consoles of an ended grant by its id, as it does for ended seat sessions.
import type { Db } from "@vdi/db";
import type { Actor } from "../../context.ts";
import { AppError } from "../../errors.ts";
import { bus, nodeTopic, tenantTopic } from "../../lib/bus.ts";
import type { ConsoleSigner } from "@vdi/node-protocol/capability-token";
import { openConsole } from "../console/open-console.ts";
import { consolesOf } from "@vdi/node-protocol";
import { changeVmState } from "../vm/change-vm-state.ts";
import { endSeatSessions, SEAT_HEARTBEAT_GRACE_MS } from "./seat-session.ts";

/** Ended sessions the admin page lists besides the open ones. */
const RECENT_ENDED = 50;
const RECENT_ENDED_MS = 24 * 3600_000;

type ConsoleDeps = { db: Db; consoleSigner: ConsoleSigner; nodeDownAfterMs: number; ip: string | null };

const nameOf = (u: { name: string | null; email: string } | null | undefined) => (u ? u.name || u.email : "a former member");

/** The tenant's seat sessions: open ones (connected, or gone since), then the last ended ones. */
export async function listSessions(db: Db, actor: Actor) {
  const rows = await db.seatSession.findMany({
    where: { tenantId: actor.tenantId, OR: [{ endedAt: null }, { endedAt: { gte: new Date(Date.now() - RECENT_ENDED_MS) } }] },
    include: { seat: { select: { name: true, location: true } } },
    orderBy: { startedAt: "desc" },
    take: 500,
  });
  const open = rows.filter((r) => !r.endedAt);
  const ended = rows.filter((r) => r.endedAt).slice(0, RECENT_ENDED);
  const shown = [...open, ...ended];
  const [users, vms, pools, shadows] = await Promise.all([
    db.user.findMany({ where: { id: { in: [...new Set(shown.map((r) => r.userId))] } }, select: { id: true, name: true, email: true } }),
    db.vm.findMany({ where: { id: { in: [...new Set(shown.map((r) => r.vmId))] } }, select: { id: true, name: true, actualState: true, template: { select: { consoles: true } } } }),
    db.desktopPool.findMany({ where: { id: { in: [...new Set(shown.flatMap((r) => (r.poolId ? [r.poolId] : [])))] } }, select: { id: true, name: true, policy: true } }),
    db.sessionShadow.findMany({ where: { sessionId: { in: open.map((r) => r.id) }, endedAt: null } }),
  ]);
  const admins = await db.user.findMany({ where: { id: { in: shadows.map((s) => s.adminId) } }, select: { id: true, name: true, email: true } });
  const byId = <T extends { id: string }>(xs: T[]) => new Map(xs.map((x) => [x.id, x]));
  const u = byId(users), v = byId(vms.map(({ template, ...vm }) => ({ ...vm, consoles: consolesOf(template.consoles) }))), p = byId(pools), a = byId(admins);
  const now = Date.now();
  return shown.map((r) => {
    const shadow = shadows.find((s) => s.sessionId === r.id);
    const connected = !r.endedAt && now - r.lastSeenAt.getTime() <= SEAT_HEARTBEAT_GRACE_MS;
    return {
      sessionId: r.id,
      user: nameOf(u.get(r.userId)),
      seat: r.seat.name,
      location: r.seat.location,
      vm: v.get(r.vmId) ?? null,
      pool: r.poolId ? p.get(r.poolId) ?? null : null,
      startedAt: r.startedAt,
      /** "connected"; "disconnected" (the kiosk went silent) since `since`; "ended" at `since`. */
      state: r.endedAt ? ("ended" as const) : connected ? ("connected" as const) : ("disconnected" as const),
      since: r.endedAt ?? (connected ? r.startedAt : r.lastSeenAt),
      lastInputAt: r.lastInputAt,
      endReason: r.endReason,
      shadow: shadow ? { shadowId: shadow.id, by: nameOf(a.get(shadow.adminId)), mine: shadow.adminId === actor.userId, control: shadow.control, controlAsked: shadow.controlAsked } : null,
    };
  });
}

async function openSessionInTenant(db: Db, actor: Actor, sessionId: string) {
  const s = await db.seatSession.findFirst({ where: { id: sessionId, tenantId: actor.tenantId } });
  if (!s) throw new AppError("NOT_FOUND", { message: "Seat session not found" });
  if (s.endedAt) throw new AppError("INVALID_STATE", { message: `This session already ended: ${s.endReason ?? "ended"}` });
  return s;
}

/**
 * An admin ends a session. "disconnect": the seat returns to its login and the desktop stays as
 * it is (the pool's disconnect timer then runs, as for any user gone). "logoff": the user's desktop
 * session ends too: a non-persistent desktop is thrown away, any other is shut down.
 */
export async function adminEndSession(deps: { db: Db; nodeDownAfterMs: number }, actor: Actor, input: { sessionId: string; how: "disconnect" | "logoff" }) {
  const s = await openSessionInTenant(deps.db, actor, input.sessionId);
  const logoff = input.how === "logoff";
  await endSeatSessions(deps, { id: s.id, endedAt: null }, logoff ? "logged off by an administrator" : "disconnected by an administrator", { reset: logoff });
  if (logoff) {
    const pool = s.poolId ? await deps.db.desktopPool.findUnique({ where: { id: s.poolId }, select: { policy: true } }) : null;
    const vm = await deps.db.vm.findUnique({ where: { id: s.vmId }, select: { actualState: true, desiredState: true } });
    if (pool?.policy !== "nonpersistent" && vm && vm.desiredState === "running" && (vm.actualState === "running" || vm.actualState === "paused")) {
      await changeVmState({ ...deps, ip: null }, actor, { vmId: s.vmId, action: "stop" });
    }
  }
  bus().emit(tenantTopic(actor.tenantId));
  return { sessionId: s.id, ended: true };
}

/** An admin starts watching a session, view only (one helpdesk at a time per session). */
export async function startShadow(db: Db, actor: Actor, input: { sessionId: string }) {
  const s = await openSessionInTenant(db, actor, input.sessionId);
  const current = await db.sessionShadow.findFirst({ where: { sessionId: s.id, endedAt: null } });
  if (current && current.adminId === actor.userId) return { shadowId: current.id, sessionId: s.id };
  if (current) {
    const by = await db.user.findUnique({ where: { id: current.adminId }, select: { name: true, email: true } });
    throw new AppError("CONFLICT", { message: `${nameOf(by)} is already watching this session` });
  }
  const row = await db.sessionShadow.create({ data: { tenantId: s.tenantId, sessionId: s.id, adminId: actor.userId } });
  bus().emit(tenantTopic(actor.tenantId));
  return { shadowId: row.id, sessionId: s.id };
}

async function shadowOf(db: Db, actor: Actor, shadowId: string) {
  const sh = await db.sessionShadow.findFirst({ where: { id: shadowId, tenantId: actor.tenantId } });
  if (!sh) throw new AppError("NOT_FOUND", { message: "Shadow session not found" });
  return sh;
}

/** The admin's view of a shadow: ended (and why), or which grant is current now. */
export async function shadowState(db: Db, actor: Actor, input: { shadowId: string }) {
  let sh = await shadowOf(db, actor, input.shadowId);
  if (sh.adminId !== actor.userId) throw new AppError("NOT_FOUND", { message: "Shadow session not found" });
  // Follow the chain of grants to the current one (view → control → view …), a few steps at most.
  for (let i = 0; i < 20 && sh.endedAt && sh.replacedById; i++) sh = await shadowOf(db, actor, sh.replacedById);
  return { shadowId: sh.id, sessionId: sh.sessionId, ended: sh.endedAt ? sh.endReason ?? "ended" : null, control: sh.control, controlAsked: sh.controlAsked };
}

async function openShadowOfAdmin(db: Db, actor: Actor, shadowId: string) {
  const sh = await shadowOf(db, actor, shadowId);
  if (sh.adminId !== actor.userId) throw new AppError("NOT_FOUND", { message: "Shadow session not found" });
  if (sh.endedAt) throw new AppError("INVALID_STATE", { message: `This shadow session ended: ${sh.endReason ?? "ended"}` });
  return sh;
}

/** A console token for the watched desktop: view only unless the user gave control; it closes with the grant. */
export async function shadowConsole(deps: ConsoleDeps, actor: Actor, input: { shadowId: string }) {
  const sh = await openShadowOfAdmin(deps.db, actor, input.shadowId);
  const s = await openSessionInTenant(deps.db, actor, sh.sessionId);
  return openConsole(deps, actor, s.vmId, undefined, { seatSession: s.id, shadow: { id: sh.id, viewOnly: !sh.control } });
}

/** The admin asks the user for control; the user's banner asks them. */
export async function askControl(db: Db, actor: Actor, input: { shadowId: string }) {
  const sh = await openShadowOfAdmin(db, actor, input.shadowId);
  if (!sh.control) await db.sessionShadow.update({ where: { id: sh.id }, data: { controlAsked: true } });
  return { shadowId: sh.id, asked: !sh.control };
}

/** The admin stops watching. */
export async function endShadow(db: Db, actor: Actor, input: { shadowId: string }) {
  const sh = await openShadowOfAdmin(db, actor, input.shadowId);
  await endShadowRows(db, { id: sh.id }, "the helpdesk stopped watching");
  return { shadowId: sh.id, ended: true };
}

/** Ends open shadow grants matching `where`; nodes close their consoles at the next sync. */
export async function endShadowRows(db: Db, where: { id?: string; sessionId?: string }, reason: string, replacedById?: string) {
  const rows = await db.sessionShadow.findMany({ where: { ...where, endedAt: null }, select: { sessionId: true } });
  const done = await db.sessionShadow.updateMany({ where: { ...where, endedAt: null }, data: { endedAt: new Date(), endReason: reason.slice(0, 200), ...(replacedById ? { replacedById } : {}) } });
  // The node that serves the desktop hears of it at once (its sync carries ended grants).
  const sessions = await db.seatSession.findMany({ where: { id: { in: [...new Set(rows.map((r) => r.sessionId))] } }, select: { vmId: true } });
  const vms = await db.vm.findMany({ where: { id: { in: sessions.map((x) => x.vmId) } }, select: { nodeId: true } });
  for (const nodeId of new Set(vms.map((v) => v.nodeId))) bus().emit(nodeTopic(nodeId));
  return done;
}

/**
 * The user at the seat answers the banner: "allow" gives control (a new grant, the view-only
 * console is closed and the admin's page reopens with control), "refuse" keeps it view only,
 * "take-back" ends control, "stop" ends the shadowing.
 */
export async function answerShadow(db: Db, session: { id: string; tenantId: string }, input: { shadowId: string; answer: "allow" | "refuse" | "take-back" | "stop" }) {
  const sh = await db.sessionShadow.findFirst({ where: { id: input.shadowId, sessionId: session.id, endedAt: null } });
  if (!sh) throw new AppError("NOT_FOUND", { message: "This helpdesk session has already ended" });
  const grant = async (control: boolean, reason: string) => {
    const next = await db.sessionShadow.create({ data: { tenantId: sh.tenantId, sessionId: sh.sessionId, adminId: sh.adminId, control } });
    const done = await endShadowRows(db, { id: sh.id }, reason, next.id);
    if (done.count === 0) { await db.sessionShadow.delete({ where: { id: next.id } }); throw new AppError("CONFLICT", { message: "This helpdesk session changed meanwhile: try again" }); }
    return next.id;
  };
  let shadowId = sh.id;
  if (input.answer === "allow" && !sh.control) shadowId = await grant(true, "the user gave control");
  else if (input.answer === "take-back" && sh.control) shadowId = await grant(false, "the user took control back");
  else if (input.answer === "refuse") await db.sessionShadow.update({ where: { id: sh.id }, data: { controlAsked: false } });
  else if (input.answer === "stop") await endShadowRows(db, { id: sh.id }, "the user ended the helpdesk session");
  bus().emit(tenantTopic(session.tenantId));
  return { shadowId, answer: input.answer };
}

/** What the user's banner shows: who watches, with control or not, and whether control is asked. */
export async function shadowBanner(db: Db, sessionId: string) {
  const sh = await db.sessionShadow.findFirst({ where: { sessionId, endedAt: null } });
  if (!sh) return null;
  const by = await db.user.findUnique({ where: { id: sh.adminId }, select: { name: true, email: true } });
  return { shadowId: sh.id, by: nameOf(by), control: sh.control, controlAsked: sh.controlAsked };
}
