// Stamps each request with the client address the portal believes (CLIENT_IP_HEADER) before Better
// Auth's rate limiter or the API's audit trail read it. Whatever the client sent in that header, or
// in X-Forwarded-For beyond what trusted proxies added, is not believed. Reasons: docs/auth.md.
import { CLIENT_IP_HEADER, resolveClientIp, type TrustedProxies } from "@vdi/api/client-ip";
import { env } from "../env";

export interface ClientIpConfig {
  /** The header scripts/portal-server.mjs puts the socket address in; null when not served by it. */
  peerAddressHeader: string | null;
  trustedProxies: TrustedProxies | null;
}

let warned = false;

/** The request again, its CLIENT_IP_HEADER replaced by the resolved address (or removed if unknown). */
export function withClientIp(req: Request, config: ClientIpConfig): Request {
  const headers = new Headers(req.headers);
  headers.delete(CLIENT_IP_HEADER);
  const peer = config.peerAddressHeader ? req.headers.get(config.peerAddressHeader) : null;
  if (config.peerAddressHeader) headers.delete(config.peerAddressHeader);
  const ip = resolveClientIp(peer, req.headers.get("x-forwarded-for"), config.trustedProxies);
  if (ip) headers.set(CLIENT_IP_HEADER, ip);
  else if (!warned) {
    warned = true;
    console.warn("client address unknown: serve the portal with scripts/portal-server.mjs (scripts/start.sh does), or rate limits share one bucket");
  }
  const init: RequestInit & { duplex?: "half" } = { headers };
  // A streamed body moves to the new request; Node's fetch wants to be told it is one-way.
  if (req.body) init.duplex = "half";
  return new Request(req, init);
}

/** withClientIp under the portal's configuration (VDI_TRUSTED_PROXIES, scripts/portal-server.mjs). */
export function portalRequest(req: Request): Request {
  const e = env();
  return withClientIp(req, { peerAddressHeader: e.VDI_PEER_ADDRESS_HEADER ?? null, trustedProxies: e.trustedProxies });
}
