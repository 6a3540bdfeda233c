// The client address the portal stamps on requests before Better Auth and the API see them: a
// forged X-Forwarded-For (or a forged copy of our own header) changes nothing, so password guesses
// from one socket keep landing in one rate-limit bucket of the real Better Auth handler.
import { describe, it, expect, beforeAll, afterAll } from "vitest";
import { openTestApi, type TestApi } from "@vdi/api/testing";
import { parseTrustedProxies } from "@vdi/api/client-ip";
import { withClientIp } from "../src/server/client-ip.ts";
import { logIn } from "../../../packages/api/src/services/auth/log-in.ts";

const PEER = "x-vdi-peer-address";
const BASE = "http://localhost:3000";

function signIn(headers: Record<string, string>, email: string, password: string): Request {
  return new Request(`${BASE}/api/auth/sign-in/email`, {
    method: "POST",
    headers: { "content-type": "application/json", origin: BASE, ...headers },
    body: JSON.stringify({ email, password }),
  });
}

describe("withClientIp", () => {
  const direct = { peerAddressHeader: PEER, trustedProxies: null };

  it("takes the socket address and drops what the client wrote in X-Forwarded-For or x-vdi-client-ip", () => {
    const req = withClientIp(signIn({ [PEER]: "198.51.100.20", "x-forwarded-for": "1.2.3.4", "x-vdi-client-ip": "5.6.7.8" }, "a@b.test", "x"), direct);
    expect(req.headers.get("x-vdi-client-ip")).toBe("198.51.100.20");
    expect(req.headers.get(PEER)).toBeNull();
  });

  it("believes forwarded hops only from trusted proxies", () => {
    const behind = { peerAddressHeader: PEER, trustedProxies: parseTrustedProxies("10.0.0.0/8") };
    const req = withClientIp(signIn({ [PEER]: "10.0.0.5", "x-forwarded-for": "1.2.3.4, 203.0.113.9" }, "a@b.test", "x"), behind);
    expect(req.headers.get("x-vdi-client-ip")).toBe("203.0.113.9");
  });

  it("without the portal server's socket header knows no address, and believes no header instead", () => {
    const req = withClientIp(signIn({ [PEER]: "198.51.100.20", "x-forwarded-for": "1.2.3.4", "x-vdi-client-ip": "5.6.7.8" }, "a@b.test", "x"), { peerAddressHeader: null, trustedProxies: null });
    expect(req.headers.get("x-vdi-client-ip")).toBeNull();
  });

  it("keeps the body for the handler", async () => {
    const req = withClientIp(signIn({ [PEER]: "198.51.100.20" }, "a@b.test", "secret"), direct);
    expect(await req.json()).toEqual({ email: "a@b.test", password: "secret" });
  });
});

describe("Better Auth's rate limit behind withClientIp", () => {
  let api: TestApi;
  beforeAll(async () => { api = await openTestApi("sqlite"); });
  afterAll(async () => api?.close());
  const direct = { peerAddressHeader: PEER, trustedProxies: null };

  it("counts sign-in attempts from one socket in one bucket however X-Forwarded-For is forged; another socket is unaffected", async () => {
    // /sign-in/social is the sign-in path browsers may reach (auth-http.ts); the limit is 3 per 10 s.
    const attempt = (peer: string, forged: Record<string, string> = {}) => api.deps.auth.handler(withClientIp(new Request(`${BASE}/api/auth/sign-in/social`, {
      method: "POST",
      headers: { "content-type": "application/json", origin: BASE, [PEER]: peer, ...forged },
      body: JSON.stringify({ provider: "oidc", callbackURL: "/vms" }),
    }), direct));
    const statuses: number[] = [];
    for (let i = 0; i < 4; i++) statuses.push((await attempt("198.51.100.20", { "x-forwarded-for": `203.0.113.${i + 1}`, "x-vdi-client-ip": `192.0.2.${i + 1}` })).status);
    expect(statuses.slice(0, 3)).not.toContain(429);
    expect(statuses[3]).toBe(429);
    expect((await attempt("198.51.100.21")).status).not.toBe(429);
  });

  it("records the believed address on the session a tRPC login makes", async () => {
    const user = await api.makeUser("acme");
    const req = withClientIp(new Request(`${BASE}/api/trpc/auth.login`, { method: "POST", headers: { [PEER]: "198.51.100.30", "x-forwarded-for": "1.2.3.4" } }), direct);
    await logIn(api.deps, { email: user.email, password: "password-123" }, req.headers, new Headers());
    const session = await api.db.session.findFirstOrThrow({ where: { userId: user.userId } });
    expect(session.ipAddress).toBe("198.51.100.30");
  });
});
