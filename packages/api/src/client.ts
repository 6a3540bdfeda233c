// Types for clients (pages, node agent), without server code.
export type { AppRouter } from "./root.ts";
export type { DesiredVm, VmReport, NodeCapabilities, ConsoleAccess } from "@vdi/node-protocol";
// The scope list is plain data (no server code), so pages can render it.
export { API_TOKEN_SCOPES, API_TOKEN_SCOPE_DESCRIPTIONS, type ApiTokenScope } from "./services/api-token/scopes.ts";
