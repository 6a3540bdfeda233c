// The one mapping from a user record to the Actor a request runs as (session or API token).
import type { Actor } from "../../context.ts";

export function actorOfUser(
  u: { id: string; tenantId: string; role?: string | null; email: string; name: string },
  via: Actor["via"],
  scopes: Actor["scopes"],
): Actor {
  return {
    userId: u.id,
    tenantId: u.tenantId,
    role: u.role === "admin" || u.role === "tenant_admin" ? u.role : "user",
    email: u.email,
    name: u.name,
    via,
    scopes,
  };
}
