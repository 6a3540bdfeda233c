// Seat sessions for tenant admins (docs/seating.md): who sits where, disconnect or log off a
// session, and helpdesk shadowing (view only until the user gives control; audited as mutations).
import { z } from "zod";
import { router, tenantAdminProcedure } from "../trpc.ts";
import { adminEndSession, askControl, endShadow, listSessions, shadowConsole, shadowState, startShadow } from "../services/seat/session-admin.ts";

const id = z.string().min(1).max(64).regex(/^[a-z0-9]+$/, "Invalid id");
const session = z.object({ sessionId: id });
const shadow = z.object({ shadowId: id });

export const sessionRouter = router({
  list: tenantAdminProcedure.query(({ ctx }) => listSessions(ctx.db, ctx.actor)),
  /** Ends the session: "disconnect" keeps the desktop as it is, "logoff" ends the desktop session too. */
  end: tenantAdminProcedure
    .input(session.extend({ how: z.enum(["disconnect", "logoff"]) }))
    .mutation(({ ctx, input }) => adminEndSession(ctx, ctx.actor, input)),
  shadow: tenantAdminProcedure.input(session).mutation(({ ctx, input }) => startShadow(ctx.db, ctx.actor, input)),
  shadowState: tenantAdminProcedure.input(shadow).query(({ ctx, input }) => shadowState(ctx.db, ctx.actor, input)),
  shadowConsole: tenantAdminProcedure.input(shadow).mutation(({ ctx, input }) => shadowConsole(ctx, ctx.actor, input)),
  askControl: tenantAdminProcedure.input(shadow).mutation(({ ctx, input }) => askControl(ctx.db, ctx.actor, input)),
  endShadow: tenantAdminProcedure.input(shadow).mutation(({ ctx, input }) => endShadow(ctx.db, ctx.actor, input)),
});
