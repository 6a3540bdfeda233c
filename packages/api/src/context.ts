// What every procedure receives: the database, auth, keys and the caller.
import type { Db } from "@vdi/db";
import type { Auth } from "./services/auth/auth.ts";
import type { ConsoleSigner } from "./services/console/console-token.ts";

export interface ApiDeps {
  db: Db;
  auth: Auth;
  consoleSigner: ConsoleSigner;
  /** Shared secret a node presents once to register (from the portal's env). */
  nodeJoinToken: string;
  /** A node not heard from for this long is down. */
  nodeDownAfterMs: number;
}

export interface Actor {
  userId: string;
  tenantId: string;
  role: "admin" | "tenant_admin" | "user";
  email: string;
  name: string;
}

export interface Context extends ApiDeps {
  headers: Headers;
  resHeaders: Headers;
  ip: string | null;
  actor: Actor | null;
}

export async function createContext(deps: ApiDeps, opts: { headers: Headers; resHeaders: Headers }): Promise<Context> {
  const { headers, resHeaders } = opts;
  const ip = headers.get("x-forwarded-for")?.split(",")[0]?.trim() ?? headers.get("x-real-ip") ?? null;
  let actor: Actor | null = null;
  if (headers.get("cookie")) {
    const found = await deps.auth.api.getSession({ headers });
    if (found) {
      const u = found.user as typeof found.user & { role?: string; tenantId?: string };
      if (u.tenantId) {
        actor = {
          userId: u.id,
          tenantId: u.tenantId,
          role: u.role === "admin" || u.role === "tenant_admin" ? u.role : "user",
          email: u.email,
          name: u.name,
        };
      }
    }
  }
  return { ...deps, headers, resHeaders, ip, actor };
}
