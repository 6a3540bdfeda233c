// Builds the API's long-lived dependencies from plain configuration, so apps never touch Prisma.
import { createDb, providerOf } from "@vdi/db";
import { migrate } from "@vdi/db/migrate";
import type { ApiDeps } from "./context.ts";
import type { PlacementPolicy } from "./services/vm/placement.ts";
import { createAuth, type OidcConfig } from "./services/auth/auth.ts";
import { createConsoleSigner } from "@vdi/node-protocol/capability-token";
import { startPortalLagClock } from "./lib/portal-lag.ts";
import { useBusTransport } from "./lib/bus.ts";
import { postgresBusTransport } from "./lib/bus-postgres.ts";

export interface ApiConfig {
  databaseUrl: string;
  authSecret: string;
  publicUrl: string;
  consolePrivateKeyPem: string;
  nodeJoinToken: string;
  nodeDownAfterMs: number;
  /** OIDC sign-in, when the portal is configured for it (VDI_OIDC_*). */
  oidc?: OidcConfig | null;
  /** Placement's policy and overcommit ratios (VDI_PLACEMENT, VDI_OVERCOMMIT_CPU, VDI_OVERCOMMIT_MEMORY). */
  placement?: PlacementPolicy;
}

export function createApiDeps(c: ApiConfig): ApiDeps {
  // From boot: a node's health is judged net of the portal's own stalls (services/node/node-health.ts).
  startPortalLagClock();
  const db = createDb(c.databaseUrl);
  // Several portals share one PostgreSQL: changes reach the others' long-polls and live pages.
  void useBusTransport(providerOf(c.databaseUrl) === "postgresql" ? postgresBusTransport(c.databaseUrl) : null);
  return {
    db,
    auth: createAuth({ db, provider: providerOf(c.databaseUrl), secret: c.authSecret, baseURL: c.publicUrl, oidc: c.oidc }),
    consoleSigner: createConsoleSigner(c.consolePrivateKeyPem),
    nodeJoinToken: c.nodeJoinToken,
    nodeDownAfterMs: c.nodeDownAfterMs,
    ...(c.placement ? { placement: c.placement } : {}),
  };
}

/** Applies pending migrations; returns their names. */
export function migrateDatabase(databaseUrl: string): Promise<string[]> {
  return migrate(databaseUrl);
}
