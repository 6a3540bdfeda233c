// Types for clients (pages, node agent), without server code.
export type { AppRouter } from "./root.ts";
export type { DesiredVm, VmReport } from "./services/node/sync-node.ts";
export type { NodeCapabilities } from "./services/node/node-health.ts";
