// Seats of thin clients (docs/seating.md): tenant admins register and revoke them; a seat's kiosk
// page names itself with its id and secret, and its logged-in user connects, polls and logs out
// through the seat session procedures.
import { z } from "zod";
import { authedProcedure, publicProcedure, router, tenantAdminProcedure } from "../trpc.ts";
import { listSeats, registerSeat, revokeSeat, seatBySecret, setSeatPool } from "../services/seat/seats.ts";
import { answerShadowAtSeat, connectAtSeat, endAtSeat, reportFirstFrame, seatConsole, seatSessionState } from "../services/seat/seat-session.ts";
import { consoleProtocolSchema } from "@vdi/node-protocol";
import { enrollSeat, withSeatSecret } from "../services/seat/seat-cookie.ts";

const id = z.string().min(1).max(64).regex(/^[a-z0-9]+$/, "Invalid id");
const seatName = z.string().trim().min(1, "Name the seat").max(64).regex(/^[\p{L}\p{N}][\p{L}\p{N} ._-]*$/u, "Use letters, digits, spaces, dots, hyphens and underscores");
const secret = z.string().min(40).max(64).regex(/^[A-Za-z0-9_-]+$/, "Invalid seat link");
/** A seat call: the seat, and its secret where the caller has it (else the seat cookie gives it). */
const seatAuth = z.object({ seatId: id, secret: secret.optional() });
const inSession = seatAuth.extend({ sessionId: id });
/** Milliseconds a kiosk measured: at most ten minutes. */
const ms = z.number().min(0).max(600_000);

export const seatRouter = router({
  register: tenantAdminProcedure
    .input(z.object({ name: seatName, location: z.string().trim().max(200).optional(), poolId: id.nullable().optional() }))
    .mutation(({ ctx, input }) => registerSeat(ctx.db, ctx.actor, input)),
  list: tenantAdminProcedure.query(({ ctx }) => listSeats(ctx.db, ctx.actor)),
  revoke: tenantAdminProcedure.input(z.object({ seatId: id })).mutation(({ ctx, input }) => revokeSeat(ctx.db, ctx.actor, input.seatId)),
  setPool: tenantAdminProcedure.input(z.object({ seatId: id, poolId: id.nullable() })).mutation(({ ctx, input }) => setSeatPool(ctx.db, ctx.actor, input)),
  // The kiosk is not logged in: the seat's secret is its credential, kept in an httpOnly cookie.
  enroll: publicProcedure.input(z.object({ seatId: id, secret })).mutation(({ ctx, input }) => enrollSeat(ctx.db, input, ctx.headers, ctx.resHeaders)),
  hello: publicProcedure.input(seatAuth).query(({ ctx, input }) => seatBySecret(ctx.db, withSeatSecret(ctx.headers, input))),
  // The user logged in at the seat: their desktop, and the session that holds it.
  connect: authedProcedure.input(seatAuth.extend({ authMs: ms })).mutation(({ ctx, input }) => connectAtSeat(ctx, ctx.actor, withSeatSecret(ctx.headers, input))),
  // The kiosk's poll and heartbeat (a mutation: it records the heartbeat).
  session: authedProcedure.input(inSession.extend({ input: z.boolean() })).mutation(({ ctx, input }) => seatSessionState(ctx, ctx.actor, withSeatSecret(ctx.headers, input))),
  console: authedProcedure.input(inSession.extend({ protocol: consoleProtocolSchema.optional() })).mutation(({ ctx, input }) => seatConsole(ctx, ctx.actor, withSeatSecret(ctx.headers, input))),
  firstFrame: authedProcedure.input(inSession.extend({ ms })).mutation(({ ctx, input }) => reportFirstFrame(ctx.db, ctx.actor, withSeatSecret(ctx.headers, input))),
  /** The user answers the helpdesk banner: give control, refuse it, take it back, or end the shadowing. */
  shadowAnswer: authedProcedure
    .input(inSession.extend({ shadowId: id, answer: z.enum(["allow", "refuse", "take-back", "stop"]) }))
    .mutation(({ ctx, input }) => answerShadowAtSeat(ctx.db, ctx.actor, withSeatSecret(ctx.headers, input))),
  logout: authedProcedure.input(inSession).mutation(({ ctx, input }) => endAtSeat(ctx, ctx.actor, withSeatSecret(ctx.headers, input))),
});
