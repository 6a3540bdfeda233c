// Live updates: yields whenever something about the tenant's VMs changed (pages then refetch).
import { authedProcedure } from "../../trpc.ts";
import { tenantTopic, topicWatcher } from "../../lib/bus.ts";

const KEEPALIVE_MS = 15_000;

export const changes = authedProcedure.subscription(async function* ({ ctx, signal }) {
  let seq = 0;
  const changes = topicWatcher(tenantTopic(ctx.actor.tenantId), signal);
  try {
    yield { seq: seq++, at: Date.now() };
    while (!signal?.aborted) {
      await changes.wait(KEEPALIVE_MS);
      if (signal?.aborted) return;
      yield { seq: seq++, at: Date.now() };
    }
  } finally {
    changes.close();
  }
});
