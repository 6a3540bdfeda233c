// Public surface of the API package.
export { appRouter, type AppRouter } from "./root.ts";
export { createContext, type ApiDeps, type Context, type Actor } from "./context.ts";
export { createCallerFactory } from "./trpc.ts";
export { AppError, isAppError, type AppErrorCode } from "./errors.ts";
export { createAuth, type Auth } from "./services/auth/auth.ts";
export { createConsoleSigner, generateConsoleKeyPem } from "@vdi/node-protocol/capability-token";
export { fetchVmThumbnail, type VmThumbnail } from "./services/console/vm-thumbnail.ts";
export { API_TOKEN_SCOPES, THUMBNAIL_SCOPE, hasScope, type ApiTokenScope } from "./services/api-token/scopes.ts";
export { seed, imageTemplateSchema, type ImageTemplate } from "./services/seed/seed.ts";
export { ensureTenant, ensureUser } from "./services/auth/create-user.ts";
export type { DesiredVm, VmReport } from "./services/node/sync-node.ts";
export type { NodeCapabilities } from "./services/node/node-health.ts";
export type { VmView } from "./services/vm/vm-view.ts";
export { createApiDeps, migrateDatabase, type ApiConfig } from "./deps.ts";
export { busReady, busTransportName, useBusTransport } from "./lib/bus.ts";
export { startJobRunner, runDueJobs, scheduleJob } from "./services/jobs/jobs.ts";
