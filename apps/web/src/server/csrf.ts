// CSRF guard for cookie-authenticated calls to the tRPC endpoint: a state-changing request that a
// browser sends from another site is refused. Pure, so the rule can be tested on its own.
// Layers and reasons: docs/auth.md.

import { apiTokenBearer } from "@vdi/api/api-token-bearer";

const SAFE_METHODS = new Set(["GET", "HEAD", "OPTIONS"]);

export interface RequestFacts {
  method: string;
  /** The URL the request was addressed to (its origin is the portal as this browser reached it). */
  url: string;
  headers: Headers;
}

/** Why the request must be refused, or null to let it through. */
export function crossSiteRefusal(req: RequestFacts, publicUrl: string): string | null {
  // Queries and subscriptions change nothing (tRPC runs mutations only for POST).
  if (SAFE_METHODS.has(req.method.toUpperCase())) return null;
  const h = req.headers;
  // Scripts send an API token; a page on another site cannot make a browser add an Authorization
  // header (that takes a CORS preflight, which the portal never approves). Only an API token: with
  // any other bearer the request context uses the cookie, so the checks below apply (one rule,
  // @vdi/api/api-token-bearer).
  if (apiTokenBearer(h.get("authorization"))) return null;
  // Without a cookie there is no session to ride on.
  if (!h.get("cookie")) return null;
  // Browsers since 2020-2023 say where a request comes from; trust it when present.
  const site = h.get("sec-fetch-site");
  if (site) return site === "same-origin" || site === "none" ? null : `Cross-site request refused (Sec-Fetch-Site: ${site})`;
  // Older browsers: every POST carries Origin. A request without one is not from a browser.
  const origin = h.get("origin");
  if (origin === null) return null;
  const allowed = new Set([new URL(publicUrl).origin, new URL(req.url).origin]);
  return allowed.has(origin) ? null : `Cross-site request refused (Origin: ${origin})`;
}
