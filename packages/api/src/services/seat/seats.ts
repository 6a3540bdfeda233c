// Seats (docs/seating.md): desks with a thin client, registered by a tenant admin. A seat's kiosk
// page authenticates as the seat with a secret that only its enrollment link carried; the portal
// keeps its SHA-256 only. Revoking a seat refuses its secret from then on (the row stays, for the
// audit trail). Register and revoke are mutations, so the audit trail records them.
import { createHash, randomBytes, timingSafeEqual } from "node:crypto";
import type { Db } from "@vdi/db";
import type { Actor } from "../../context.ts";
import { AppError } from "../../errors.ts";

const hash = (secret: string) => createHash("sha256").update(secret).digest("hex");
/** At most this many seats per tenant (live ones; revoked ones do not count). */
export const MAX_SEATS_PER_TENANT = 5_000;

export interface SeatView { seatId: string; name: string; location: string; createdAt: Date; lastSeenAt: Date | null; revokedAt: Date | null }

const view = (s: { id: string; name: string; location: string; createdAt: Date; lastSeenAt: Date | null; revokedAt: Date | null }): SeatView =>
  ({ seatId: s.id, name: s.name, location: s.location, createdAt: s.createdAt, lastSeenAt: s.lastSeenAt, revokedAt: s.revokedAt });

/** Registers a seat in the actor's tenant; the enrollment path (with its secret) is shown once. */
export async function registerSeat(db: Db, actor: Actor, input: { name: string; location?: string | undefined }) {
  const secret = randomBytes(32).toString("base64url");
  const live = await db.seat.count({ where: { tenantId: actor.tenantId, revokedAt: null } });
  if (live >= MAX_SEATS_PER_TENANT) throw new AppError("QUOTA_EXCEEDED", { message: `A tenant has at most ${MAX_SEATS_PER_TENANT} seats; revoke one first` });
  const taken = await db.seat.findUnique({ where: { tenantId_name: { tenantId: actor.tenantId, name: input.name } } });
  if (taken) throw new AppError("CONFLICT", { message: `A seat named "${input.name}" exists already${taken.revokedAt ? " (revoked)" : ""}` });
  try {
    const seat = await db.seat.create({ data: { tenantId: actor.tenantId, name: input.name, location: input.location ?? "", secretHash: hash(secret), createdById: actor.userId } });
    return { ...view(seat), enrollPath: `/seat/${seat.id}?enroll=${secret}` };
  } catch (e) {
    if ((e as { code?: string }).code === "P2002") throw new AppError("CONFLICT", { message: `A seat named "${input.name}" exists already` });
    throw e;
  }
}

export async function listSeats(db: Db, actor: Actor): Promise<SeatView[]> {
  const seats = await db.seat.findMany({ where: { tenantId: actor.tenantId }, orderBy: [{ revokedAt: "asc" }, { name: "asc" }] });
  return seats.map(view);
}

export async function revokeSeat(db: Db, actor: Actor, seatId: string): Promise<SeatView> {
  const seat = await db.seat.findUnique({ where: { id: seatId } });
  if (!seat || seat.tenantId !== actor.tenantId) throw new AppError("NOT_FOUND", { message: "Seat not found" });
  if (seat.revokedAt) return view(seat);
  return view(await db.seat.update({ where: { id: seat.id }, data: { revokedAt: new Date() } }));
}

/**
 * The seat a kiosk page speaks for, by its id and secret: what its login screen shows. A wrong
 * secret and an unknown seat get the same answer; a revoked one says so.
 */
export async function seatBySecret(db: Db, input: { seatId: string; secret: string }) {
  const seat = await db.seat.findUnique({ where: { id: input.seatId }, include: { tenant: { select: { name: true } } } });
  const given = Buffer.from(hash(input.secret), "hex");
  if (!seat || !timingSafeEqual(given, Buffer.from(seat.secretHash, "hex"))) {
    throw new AppError("UNAUTHENTICATED", { message: "This seat is not registered (or its link is wrong): ask your administrator for a new seat link" });
  }
  if (seat.revokedAt) throw new AppError("FORBIDDEN", { message: `Seat "${seat.name}" was revoked: ask your administrator for a new seat link` });
  await db.seat.update({ where: { id: seat.id }, data: { lastSeenAt: new Date() } });
  return { seatId: seat.id, name: seat.name, location: seat.location, tenant: seat.tenant.name };
}
