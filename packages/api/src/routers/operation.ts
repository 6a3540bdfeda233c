import { z } from "zod";
import { authedProcedure, router } from "../trpc.ts";
import { getOperation, listOperations } from "../services/operation/get-operation.ts";
import { tenantTopic, waitFor } from "../lib/bus.ts";

const id = z.string().min(1).max(64);
export const operationRouter = router({
  get: authedProcedure.input(z.object({ operationId: id })).query(({ ctx, input }) => getOperation(ctx.db, ctx.actor, input.operationId)),
  list: authedProcedure
    .input(z.object({ vmId: id.optional(), limit: z.number().int().min(1).max(100).default(20) }))
    .query(({ ctx, input }) => listOperations(ctx.db, ctx.actor, input)),
  /** Live: the VM's latest operations with their progress, sent again whenever one changes. */
  watch: authedProcedure
    .input(z.object({ vmId: id, limit: z.number().int().min(1).max(100).default(10) }))
    .subscription(async function* ({ ctx, input, signal }) {
      let last = "";
      while (!signal?.aborted) {
        const ops = await listOperations(ctx.db, ctx.actor, input);
        const json = JSON.stringify(ops);
        if (json !== last) {
          last = json;
          yield ops;
        }
        await waitFor(tenantTopic(ctx.actor.tenantId), 15_000, signal);
      }
    }),
});
