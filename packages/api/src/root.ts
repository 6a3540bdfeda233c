// The API's table of routers.
import { router } from "./trpc.ts";
import { registerAuditedInputs } from "./audit-trail.ts";
import { authRouter } from "./routers/auth.ts";
import { vmRouter } from "./routers/vm/index.ts";
import { templateRouter } from "./routers/template.ts";
import { nodeRouter } from "./routers/node.ts";
import { consoleRouter } from "./routers/console.ts";
import { operationRouter } from "./routers/operation.ts";
import { nodeAgentRouter } from "./routers/node-agent.ts";
import { snapshotRouter } from "./routers/snapshot.ts";
import { apiTokenRouter } from "./routers/api-token.ts";
import { tenantRouter } from "./routers/tenant.ts";
import { auditRouter } from "./routers/audit.ts";
import { seatRouter } from "./routers/seat.ts";
import { poolRouter } from "./routers/pool.ts";
import { sessionRouter } from "./routers/session.ts";

export const appRouter = router({
  auth: authRouter,
  vm: vmRouter,
  template: templateRouter,
  node: nodeRouter,
  console: consoleRouter,
  operation: operationRouter,
  snapshot: snapshotRouter,
  apiToken: apiTokenRouter,
  nodeAgent: nodeAgentRouter,
  tenant: tenantRouter,
  audit: auditRouter,
  seat: seatRouter,
  pool: poolRouter,
  session: sessionRouter,
});
registerAuditedInputs(appRouter);
export type AppRouter = typeof appRouter;
