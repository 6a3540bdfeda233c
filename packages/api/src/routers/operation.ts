import { z } from "zod";
import { authedProcedure, router } from "../trpc.ts";
import { getOperation, listOperations, watchOperations } from "../services/operation/get-operation.ts";

const id = z.string().min(1).max(64);
export const operationRouter = router({
  get: authedProcedure.input(z.object({ operationId: id })).query(({ ctx, input }) => getOperation(ctx.db, ctx.actor, input.operationId)),
  list: authedProcedure
    .input(z.object({ vmId: id.optional(), limit: z.number().int().min(1).max(100).default(20) }))
    .query(({ ctx, input }) => listOperations(ctx.db, ctx.actor, input)),
  /** Live: the VM's latest operations with their progress, sent again whenever one changes. */
  watch: authedProcedure
    .input(z.object({ vmId: id, limit: z.number().int().min(1).max(100).default(10) }))
    .subscription(({ ctx, input, signal }) => watchOperations(ctx.db, ctx.actor, input, signal)),
});
