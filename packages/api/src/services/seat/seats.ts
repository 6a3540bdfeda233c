// Seats (docs/seating.md): desks with a thin client, registered by a tenant admin. A seat's kiosk
// page authenticates as the seat with a secret that only its enrollment link carried; the portal
// keeps its SHA-256 only. Revoking a seat refuses its secret from then on (the row stays, for the
// audit trail). Register and revoke are mutations, so the audit trail records them.
import { createHash, randomBytes, timingSafeEqual } from "node:crypto";
import type { Db } from "@vdi/db";
import type { Actor } from "../../context.ts";
import { AppError } from "../../errors.ts";
import { endSeatSessions } from "./seat-session.ts";

const hash = (secret: string) => createHash("sha256").update(secret).digest("hex");
/** At most this many seats per tenant (live ones; revoked ones do not count). */
export const MAX_SEATS_PER_TENANT = 5_000;

export interface SeatView { seatId: string; name: string; location: string; poolId: string | null; pool: string | null; createdAt: Date; lastSeenAt: Date | null; revokedAt: Date | null }

type SeatRow = { id: string; name: string; location: string; poolId: string | null; pool?: { name: string } | null; createdAt: Date; lastSeenAt: Date | null; revokedAt: Date | null };
const view = (s: SeatRow): SeatView =>
  ({ seatId: s.id, name: s.name, location: s.location, poolId: s.poolId, pool: s.pool?.name ?? null, createdAt: s.createdAt, lastSeenAt: s.lastSeenAt, revokedAt: s.revokedAt });

/** Registers a seat in the actor's tenant; the enrollment path (with its secret) is shown once. */
export async function registerSeat(db: Db, actor: Actor, input: { name: string; location?: string | undefined; poolId?: string | null | undefined }) {
  const secret = randomBytes(32).toString("base64url");
  const live = await db.seat.count({ where: { tenantId: actor.tenantId, revokedAt: null } });
  if (live >= MAX_SEATS_PER_TENANT) throw new AppError("QUOTA_EXCEEDED", { message: `A tenant has at most ${MAX_SEATS_PER_TENANT} seats; revoke one first` });
  const taken = await db.seat.findUnique({ where: { tenantId_name: { tenantId: actor.tenantId, name: input.name } } });
  if (taken) throw new AppError("CONFLICT", { message: `A seat named "${input.name}" exists already${taken.revokedAt ? " (revoked)" : ""}` });
  if (input.poolId && !(await db.desktopPool.findFirst({ where: { id: input.poolId, tenantId: actor.tenantId }, select: { id: true } }))) {
    throw new AppError("NOT_FOUND", { message: "Pool not found" });
  }
  try {
    const seat = await db.seat.create({
      data: { tenantId: actor.tenantId, name: input.name, location: input.location ?? "", secretHash: hash(secret), createdById: actor.userId, poolId: input.poolId ?? null },
      include: { pool: { select: { name: true } } },
    });
    return { ...view(seat), enrollPath: `/seat/${seat.id}?enroll=${secret}` };
  } catch (e) {
    if ((e as { code?: string }).code === "P2002") throw new AppError("CONFLICT", { message: `A seat named "${input.name}" exists already` });
    throw e;
  }
}

/** The tenant's seats, each with who sits there now (its open session's user). */
export async function listSeats(db: Db, actor: Actor): Promise<Array<SeatView & { sittingNow: string | null }>> {
  const seats = await db.seat.findMany({ where: { tenantId: actor.tenantId }, orderBy: [{ revokedAt: "asc" }, { name: "asc" }], include: { pool: { select: { name: true } } } });
  const open = await db.seatSession.findMany({ where: { tenantId: actor.tenantId, endedAt: null }, select: { seatId: true, userId: true } });
  const users = new Map((await db.user.findMany({ where: { id: { in: open.map((o) => o.userId) } }, select: { id: true, name: true, email: true } })).map((u) => [u.id, u.name || u.email]));
  const at = new Map(open.map((o) => [o.seatId, users.get(o.userId) ?? null]));
  return seats.map((s) => ({ ...view(s), sittingNow: at.get(s.id) ?? null }));
}

export async function revokeSeat(db: Db, actor: Actor, seatId: string): Promise<SeatView> {
  const seat = await db.seat.findUnique({ where: { id: seatId } });
  if (!seat || seat.tenantId !== actor.tenantId) throw new AppError("NOT_FOUND", { message: "Seat not found" });
  if (seat.revokedAt) return view(seat);
  // Revoking ends the seat's session at once (its consoles close on the node).
  await endSeatSessions({ db }, { seatId: seat.id, endedAt: null }, `seat "${seat.name}" was revoked`, { reset: true });
  return view(await db.seat.update({ where: { id: seat.id }, data: { revokedAt: new Date() } }));
}

/**
 * The seat a kiosk page speaks for, by its id and secret: what its login screen shows. A wrong
 * secret and an unknown seat get the same answer; a revoked one says so.
 */
export async function seatBySecret(db: Db, input: { seatId: string; secret: string }) {
  const seat = await checkSeat(db, input);
  await db.seat.update({ where: { id: seat.id }, data: { lastSeenAt: new Date() } });
  return { seatId: seat.id, name: seat.name, location: seat.location, tenant: seat.tenant.name, pool: seat.pool?.name ?? null };
}

/** The seat row its id and secret name, live (not revoked); every seat request goes through it. */
export async function checkSeat(db: Db, input: { seatId: string; secret: string }) {
  const seat = await db.seat.findUnique({ where: { id: input.seatId }, include: { tenant: { select: { name: true } }, pool: true } });
  const given = Buffer.from(hash(input.secret), "hex");
  if (!seat || !timingSafeEqual(given, Buffer.from(seat.secretHash, "hex"))) {
    throw new AppError("UNAUTHENTICATED", { message: "This seat is not registered (or its link is wrong): ask your administrator for a new seat link" });
  }
  if (seat.revokedAt) throw new AppError("FORBIDDEN", { message: `Seat "${seat.name}" was revoked: ask your administrator for a new seat link` });
  return seat;
}

/** Sets (or clears) the pool whose desktops a seat hands out. */
export async function setSeatPool(db: Db, actor: Actor, input: { seatId: string; poolId: string | null }): Promise<SeatView> {
  const seat = await db.seat.findUnique({ where: { id: input.seatId } });
  if (!seat || seat.tenantId !== actor.tenantId) throw new AppError("NOT_FOUND", { message: "Seat not found" });
  if (input.poolId !== null && !(await db.desktopPool.findFirst({ where: { id: input.poolId, tenantId: actor.tenantId }, select: { id: true } }))) {
    throw new AppError("NOT_FOUND", { message: "Pool not found" });
  }
  return view(await db.seat.update({ where: { id: seat.id }, data: { poolId: input.poolId }, include: { pool: { select: { name: true } } } }));
}
