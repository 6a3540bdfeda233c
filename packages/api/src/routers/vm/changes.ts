// Live updates: yields whenever something about the tenant's VMs changed (pages then refetch).
import { authedProcedure } from "../../trpc.ts";
import { tenantTopic, waitFor } from "../../lib/bus.ts";

const KEEPALIVE_MS = 15_000;

export const changes = authedProcedure.subscription(async function* ({ ctx, signal }) {
  let seq = 0;
  yield { seq: seq++, at: Date.now() };
  while (!signal?.aborted) {
    await waitFor(tenantTopic(ctx.actor.tenantId), KEEPALIVE_MS, signal);
    if (signal?.aborted) return;
    yield { seq: seq++, at: Date.now() };
  }
});
