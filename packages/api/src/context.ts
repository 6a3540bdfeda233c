// What every procedure receives: the database, auth, keys and the caller.
import type { PlacementPolicy } from "./services/vm/placement.ts";
import type { Db } from "@vdi/db";
import type { Auth } from "./services/auth/auth.ts";
import type { ConsoleSigner } from "@vdi/node-protocol/capability-token";
import { verifyApiToken } from "./services/api-token/verify-api-token.ts";
import { CLIENT_IP_HEADER } from "./lib/client-ip.ts";
import { apiTokenBearer } from "./lib/api-token-bearer.ts";
import { callerCache } from "./services/auth/caller-cache.ts";
import { actorOfUser } from "./services/auth/actor-of-user.ts";

export interface ApiDeps {
  db: Db;
  auth: Auth;
  consoleSigner: ConsoleSigner;
  /** Shared secret a node presents once to register (from the portal's env). */
  nodeJoinToken: string;
  /** A node not heard from for this long is down. */
  nodeDownAfterMs: number;
  /** How new VMs are placed (services/vm/placement.ts); the default when absent. */
  placement?: PlacementPolicy;
}

export interface Actor {
  userId: string;
  tenantId: string;
  role: "admin" | "tenant_admin" | "user";
  email: string;
  name: string;
  /** How the caller signed in: a browser session, or an API token (Authorization: Bearer vdi_...). */
  via: "session" | "token";
  /** The token's scopes; null for sessions, which have all of the role's rights. */
  scopes: readonly string[] | null;
}

export interface Context extends ApiDeps {
  headers: Headers;
  resHeaders: Headers;
  ip: string | null;
  actor: Actor | null;
  /** Why presented credentials were refused (a bad API token): the UNAUTHORIZED message. */
  authError?: string | null;
}


/** The signed-in user a session cookie stands for, unless the session is gone or the user disabled. */
async function sessionActor(deps: ApiDeps, headers: Headers): Promise<{ actor: Actor; expiresAt: Date } | null> {
  const found = await deps.auth.api.getSession({ headers });
  if (!found) return null;
  const u = found.user as typeof found.user & { role?: string; tenantId?: string };
  // A disabled user is logged out everywhere at once, whatever sessions they still hold.
  const live = u.tenantId ? await deps.db.user.findUnique({ where: { id: u.id }, select: { disabledAt: true } }) : null;
  if (!u.tenantId || !live || live.disabledAt) return null;
  return { actor: actorOfUser({ ...u, tenantId: u.tenantId }, "session", null), expiresAt: found.session.expiresAt };
}

/**
 * The caller is remembered per credential for at most CALLER_CACHE_MS (services/auth/caller-cache.ts):
 * a revocation, a disabled user or a role change made through this process applies at once, one made
 * elsewhere within that bound.
 */
export async function createContext(deps: ApiDeps, opts: { headers: Headers; resHeaders: Headers }): Promise<Context> {
  const { headers, resHeaders } = opts;
  // Set by the portal's route handlers from the socket and the trusted proxies (lib/client-ip.ts);
  // X-Forwarded-For itself is the client's to write and is never read here.
  const ip = headers.get(CLIENT_IP_HEADER);
  let actor: Actor | null = null;
  let authError: string | null = null;
  const bearer = apiTokenBearer(headers.get("authorization"));
  const cookie = headers.get("cookie");
  if (bearer) {
    // An explicit token wins over any cookie the script happens to send.
    actor = await callerCache().actorFor(`bearer:${bearer}`, async () => {
      const check = await verifyApiToken(deps.db, bearer);
      if (check.ok) return { actor: check.actor, expiresAt: check.expiresAt };
      authError = check.reason;
      return null;
    });
  } else if (cookie) {
    actor = await callerCache().actorFor(`cookie:${cookie}`, () => sessionActor(deps, headers));
  }
  return { ...deps, headers, resHeaders, ip, actor, authError };
}
