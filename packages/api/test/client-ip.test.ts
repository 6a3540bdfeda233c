// Which client address the portal believes: the socket's peer, or behind trusted proxies the
// right-most X-Forwarded-For hop they did not add; never what the client wrote itself.
import { describe, it, expect } from "vitest";
import { parseTrustedProxies, resolveClientIp } from "../src/lib/client-ip.ts";

describe("resolveClientIp", () => {
  it("with no trusted proxies is the socket's peer, whatever X-Forwarded-For says", () => {
    expect(resolveClientIp("198.51.100.9", "1.2.3.4", null)).toBe("198.51.100.9");
    expect(resolveClientIp("198.51.100.9", "1.2.3.4, 5.6.7.8", parseTrustedProxies(""))).toBe("198.51.100.9");
    expect(resolveClientIp("::ffff:198.51.100.9", null, null)).toBe("198.51.100.9");
    expect(resolveClientIp("2001:db8::7", "1.2.3.4", null)).toBe("2001:db8::7");
  });

  it("is unknown (null) when the peer is unknown: the headers alone prove nothing", () => {
    expect(resolveClientIp(null, "1.2.3.4", parseTrustedProxies("0.0.0.0/0"))).toBeNull();
    expect(resolveClientIp("", "1.2.3.4", null)).toBeNull();
    expect(resolveClientIp("not-an-ip", "1.2.3.4", null)).toBeNull();
  });

  it("behind trusted proxies takes the right-most hop they did not add; what the client prepended is ignored", () => {
    const trusted = parseTrustedProxies("10.0.0.0/8, 192.0.2.7");
    // The client forged "1.2.3.4"; the edge proxy 10.0.0.5 appended the real 203.0.113.9; 10.0.0.5 connected.
    expect(resolveClientIp("10.0.0.5", "1.2.3.4, 203.0.113.9", trusted)).toBe("203.0.113.9");
    // Two trusted hops: 192.0.2.7 forwarded to 10.0.0.5, which connected.
    expect(resolveClientIp("10.0.0.5", "1.2.3.4, 203.0.113.9, 192.0.2.7", trusted)).toBe("203.0.113.9");
    // Ports and brackets some proxies write.
    expect(resolveClientIp("10.0.0.5", "203.0.113.9:5555", trusted)).toBe("203.0.113.9");
    expect(resolveClientIp("10.0.0.5", "[2001:db8::9]:443", trusted)).toBe("2001:db8::9");
    // A peer that is not trusted is the client even if it sends a chain.
    expect(resolveClientIp("203.0.113.50", "10.0.0.1, 192.0.2.7", trusted)).toBe("203.0.113.50");
  });

  it("stops at the last trusted proxy when a hop is garbage or missing, rather than believe further left", () => {
    const trusted = parseTrustedProxies("10.0.0.0/8");
    expect(resolveClientIp("10.0.0.5", "1.2.3.4, garbage", trusted)).toBe("10.0.0.5");
    expect(resolveClientIp("10.0.0.5", null, trusted)).toBe("10.0.0.5");
    expect(resolveClientIp("10.0.0.5", "10.1.1.1, 10.2.2.2", trusted)).toBe("10.1.1.1");
  });

  it("parses addresses and CIDR ranges of both families and refuses anything else", () => {
    const trusted = parseTrustedProxies("fd00::/8, 127.0.0.1");
    expect(resolveClientIp("fd12::1", "203.0.113.9", trusted)).toBe("203.0.113.9");
    expect(resolveClientIp("::ffff:127.0.0.1", "203.0.113.9", trusted)).toBe("203.0.113.9");
    expect(resolveClientIp("127.0.0.2", "203.0.113.9", trusted)).toBe("127.0.0.2");
    for (const bad of ["10.0.0.0/33", "example.com", "10.0.0.1/8/1", "::1/129", "10.0.0.0/x"]) {
      expect(() => parseTrustedProxies(bad)).toThrow(/not an IP address or CIDR range/);
    }
  });
});
