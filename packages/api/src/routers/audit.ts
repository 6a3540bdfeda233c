import { z } from "zod";
import { router, tenantAdminProcedure } from "../trpc.ts";
import { listAudit } from "../services/audit/list-audit.ts";

export const auditRouter = router({
  list: tenantAdminProcedure
    .input(z.object({
      tenantId: z.string().max(64).optional(),
      actor: z.string().trim().max(254).optional(),
      action: z.string().trim().max(64).regex(/^[\w.-]*$/, "Actions look like vm.create").optional(),
      outcome: z.enum(["ok", "denied", "error"]).optional(),
      targetId: z.string().max(64).optional(),
      from: z.coerce.date().optional(),
      to: z.coerce.date().optional(),
      cursor: z.string().max(64).optional(),
      limit: z.number().int().min(1).max(200).default(50),
    }))
    .query(({ ctx, input }) => listAudit(ctx.db, ctx.actor, input)),
});
