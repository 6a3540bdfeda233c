// Which address a request really came from, for rate limits and the audit trail: the socket's
// peer, or, when that peer is a proxy the operator trusts, the right-most X-Forwarded-For hop
// that no trusted proxy added. Anything further left was written by the client and proves nothing.
import { BlockList, isIP } from "node:net";

/**
 * The request header the portal's route handlers set to the address resolved here (removing any
 * copy the client sent). Better Auth (advanced.ipAddress) and createContext read only this one.
 */
export const CLIENT_IP_HEADER = "x-vdi-client-ip";

export type TrustedProxies = BlockList;

/** "::ffff:192.0.2.1" (an IPv4 client seen on a dual-stack socket) is 192.0.2.1. */
function plain(address: string): string {
  const a = address.trim();
  const mapped = /^::ffff:(\d{1,3}(?:\.\d{1,3}){3})$/i.exec(a);
  return mapped ? mapped[1]! : a;
}

/** One X-Forwarded-For entry as an address: drops the "[v6]:port" / "v4:port" some proxies add. */
function hopAddress(entry: string): string | null {
  let a = entry.trim();
  const bracketed = /^\[([^\]]+)\](?::\d+)?$/.exec(a);
  if (bracketed) a = bracketed[1]!;
  else if (/^\d{1,3}(?:\.\d{1,3}){3}:\d+$/.test(a)) a = a.slice(0, a.lastIndexOf(":"));
  a = plain(a);
  return isIP(a) ? a : null;
}

/** Parses "10.0.0.0/8, 192.0.2.7, fd00::/8" (addresses or CIDR ranges); throws on anything else. */
export function parseTrustedProxies(list: string): TrustedProxies {
  const trusted = new BlockList();
  for (const raw of list.split(",").map((s) => s.trim()).filter(Boolean)) {
    const [addr, prefix, extra] = raw.split("/");
    const a = plain(addr ?? "");
    const family = isIP(a);
    const bits = prefix === undefined ? null : /^\d{1,3}$/.test(prefix) ? Number(prefix) : NaN;
    if (!family || extra !== undefined || (bits !== null && !(bits >= 0 && bits <= (family === 4 ? 32 : 128)))) {
      throw new Error(`not an IP address or CIDR range: "${raw}"`);
    }
    const type = family === 4 ? "ipv4" : "ipv6";
    if (bits === null) trusted.addAddress(a, type);
    else trusted.addSubnet(a, bits, type);
  }
  return trusted;
}

function isTrusted(trusted: TrustedProxies, address: string): boolean {
  return trusted.check(address, isIP(address) === 4 ? "ipv4" : "ipv6");
}

/**
 * The client's address. `peer` is the TCP peer (null when the server cannot tell); without it
 * nothing in the headers can be checked, so the answer is null rather than a guess. A peer that is
 * not a trusted proxy is the client, whatever X-Forwarded-For says. Behind trusted proxies the hops
 * are read from the right; the first one not trusted is the client. A hop that is not an address
 * (a proxy that does not append, or garbage) stops the walk at the last proxy that was trusted.
 */
export function resolveClientIp(peer: string | null | undefined, forwardedFor: string | null | undefined, trusted: TrustedProxies | null): string | null {
  const socket = peer ? hopAddress(peer) : null;
  if (!socket) return null;
  if (!trusted || !isTrusted(trusted, socket)) return socket;
  let last = socket;
  const hops = (forwardedFor ?? "").split(",").filter((h) => h.trim() !== "");
  for (let i = hops.length - 1; i >= 0; i--) {
    const hop = hopAddress(hops[i]!);
    if (!hop) return last;
    if (!isTrusted(trusted, hop)) return hop;
    last = hop;
  }
  return last;
}
