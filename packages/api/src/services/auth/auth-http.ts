// What of Better Auth is reachable over HTTP (/api/auth/*): only what the portal's pages use, the
// OIDC sign-in, and what postToAuth sends itself; every state change there lands in the audit trail.
// Everything else Better Auth offers (change-password, update-user, two-factor enable/disable,
// revoke-sessions, sign-out, ...) is done through the audited tRPC procedures, or not at all.
import type { Db } from "@vdi/db";
import type { BetterAuthPlugin } from "better-auth";
import { createAuthMiddleware } from "better-auth/api";
import { CLIENT_IP_HEADER } from "../../lib/client-ip.ts";
import type { Actor } from "../../context.ts";
import { recordAudit } from "../audit/record-audit.ts";

/** Requests postToAuth builds: tRPC procedures that are audited themselves. Unforgeable: object identity. */
export const internalAuthRequests = new WeakSet<Request>();

/** [method, path below the base path] a browser may reach. */
const BROWSER_ROUTES: ReadonlyArray<readonly [string, RegExp]> = [
  ["POST", /^\/sign-in\/social$/],        // "Sign in with …" (login page)
  ["GET", /^\/callback\/[a-z0-9-]+$/],    // the identity provider sends the browser back
  ["POST", /^\/callback\/[a-z0-9-]+$/],   // (response_mode=form_post)
  ["GET", /^\/error$/],                   // Better Auth's error page, for errors it cannot redirect
  ["GET", /^\/ok$/],                      // health
];

export function mayReachOverHttp(method: string, path: string): boolean {
  return BROWSER_ROUTES.some(([m, p]) => m === method.toUpperCase() && p.test(path));
}

/** Answers 404 to any other request, before Better Auth reads it (its rate limit has counted it). */
export function browserPathsOnly(basePath: string): BetterAuthPlugin {
  return {
    id: "vdi-browser-paths",
    async onRequest(request) {
      if (internalAuthRequests.has(request)) return;
      const pathname = new URL(request.url).pathname;
      const path = pathname.startsWith(basePath) ? pathname.slice(basePath.length) || "/" : pathname;
      if (mayReachOverHttp(request.method, path)) return;
      return { response: new Response("Not Found", { status: 404 }) };
    },
  };
}

interface SignedInUser { id: string; email: string; name: string; tenantId?: string; role?: string }

/**
 * Audit rows for sign-ins that happen inside Better Auth's HTTP endpoints (the OIDC callback, or
 * /sign-in/social with an ID token): who got a session, or that a sign-in was refused and why.
 */
export function auditBrowserSignIns(db: Db) {
  return createAuthMiddleware(async (ctx) => {
    if (ctx.path !== "/callback/:id" && ctx.path !== "/sign-in/social") return;
    const ip = ctx.request?.headers.get(CLIENT_IP_HEADER) ?? null;
    const user = ctx.context.newSession?.user as SignedInUser | undefined;
    const provider = typeof ctx.params?.id === "string" ? ctx.params.id : (ctx.body as { provider?: unknown } | undefined)?.provider;
    const via = `provider=${JSON.stringify(String(provider ?? "?").slice(0, 40))}`;
    try {
      if (user) {
        const role = user.role === "admin" || user.role === "tenant_admin" ? user.role : "user";
        const actor: Actor | null = user.tenantId ? { userId: user.id, tenantId: user.tenantId, role, email: user.email, name: user.name, via: "session", scopes: null } : null;
        await recordAudit(db, actor, ip, { action: "auth.oidcSignIn", targetType: "user", targetId: user.id, outcome: "ok", detail: via, actorEmail: user.email, via: "session" });
      } else if (ctx.path === "/callback/:id") {
        // Refused: Better Auth redirects to the error page with the reason in the query.
        const returned = ctx.context.returned as { headers?: Headers } | undefined;
        const location = returned?.headers instanceof Headers ? returned.headers.get("location") : null;
        const reason = location ? new URL(location, "http://x").searchParams.get("error") : null;
        await recordAudit(db, null, ip, { action: "auth.oidcSignIn", targetType: "none", outcome: "denied", detail: `${via} — ${reason ?? "refused"}`.slice(0, 300), via: "anonymous" });
      }
    } catch (e) {
      console.error(`audit: could not record auth.oidcSignIn: ${(e as Error).message}`);
    }
  });
}
