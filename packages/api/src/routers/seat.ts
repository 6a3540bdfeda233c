// Seats of thin clients (docs/seating.md): tenant admins register and revoke them; a seat's kiosk
// page names itself with its id and secret.
import { z } from "zod";
import { publicProcedure, router, tenantAdminProcedure } from "../trpc.ts";
import { listSeats, registerSeat, revokeSeat, seatBySecret } from "../services/seat/seats.ts";

const id = z.string().min(1).max(64).regex(/^[a-z0-9]+$/, "Invalid id");
const seatName = z.string().trim().min(1, "Name the seat").max(64).regex(/^[\p{L}\p{N}][\p{L}\p{N} ._-]*$/u, "Use letters, digits, spaces, dots, hyphens and underscores");
const secret = z.string().min(40).max(64).regex(/^[A-Za-z0-9_-]+$/, "Invalid seat link");

export const seatRouter = router({
  register: tenantAdminProcedure
    .input(z.object({ name: seatName, location: z.string().trim().max(200).optional() }))
    .mutation(({ ctx, input }) => registerSeat(ctx.db, ctx.actor, input)),
  list: tenantAdminProcedure.query(({ ctx }) => listSeats(ctx.db, ctx.actor)),
  revoke: tenantAdminProcedure.input(z.object({ seatId: id })).mutation(({ ctx, input }) => revokeSeat(ctx.db, ctx.actor, input.seatId)),
  // The kiosk is not logged in: the seat's secret is its credential.
  hello: publicProcedure.input(z.object({ seatId: id, secret })).query(({ ctx, input }) => seatBySecret(ctx.db, input)),
});
