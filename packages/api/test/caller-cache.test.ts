// Who a credential stands for is remembered for at most CALLER_CACHE_MS, so a short read does not pay
// for a token or session lookup every time; a revocation, a disabled user or a role change made
// through the portal still applies at once, and one made behind its back within the bound.
import { describe, it, expect, beforeAll, afterAll } from "vitest";
import { openTestApi, providers, type TestApi } from "./harness.ts";
import { appRouter, createContext, createCallerFactory, type Actor } from "../src/index.ts";
import { CALLER_CACHE_MS, CallerCache } from "../src/services/auth/caller-cache.ts";

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const caller = createCallerFactory(appRouter);

describe.each(providers)("caller cache on %s", (provider) => {
  let api: TestApi;
  let admin: Actor;
  beforeAll(async () => {
    api = await openTestApi(provider);
    admin = await api.makeUser("cc", "tenant_admin");
  });
  afterAll(async () => api?.close());

  const ctxOf = (headers: Headers) => createContext(api.deps, { headers, resHeaders: new Headers() });
  const bearer = (token: string) => new Headers({ authorization: `Bearer ${token}` });
  async function sessionCookie(user: Actor): Promise<string> {
    const resHeaders = new Headers();
    await caller(await createContext(api.deps, { headers: new Headers(), resHeaders })).auth.login({ email: user.email, password: "password-123" });
    return resHeaders.getSetCookie().find((c) => c.startsWith("vdi.session_token="))!.split(";")[0]!;
  }

  it("resolves a token once per bound: a change written behind the portal's back applies within CALLER_CACHE_MS", async () => {
    const user = await api.makeUser("cc");
    const { token, tokenId } = await api.caller(user).apiToken.create({ name: "t", scopes: ["vm:read"], expiresInDays: 1 });
    expect((await ctxOf(bearer(token))).actor).toMatchObject({ userId: user.userId, via: "token" });
    // Another portal process (or a script) revokes it in the database: this process has not heard.
    await api.db.apiToken.update({ where: { id: tokenId }, data: { revokedAt: new Date() } });
    expect((await ctxOf(bearer(token))).actor).toMatchObject({ userId: user.userId });
    await sleep(CALLER_CACHE_MS + 100);
    const after = await ctxOf(bearer(token));
    expect([after.actor, after.authError]).toEqual([null, "API token revoked"]);
  }, 20_000);

  it("refuses at once a token revoked, and a user disabled, through the portal", async () => {
    const user = await api.makeUser("cc");
    const { token, tokenId } = await api.caller(user).apiToken.create({ name: "t", scopes: ["vm:read"], expiresInDays: 1 });
    const other = await api.caller(user).apiToken.create({ name: "u", scopes: ["vm:read"], expiresInDays: 1 });
    const cookie = await sessionCookie(user);
    for (const h of [bearer(token), bearer(other.token), new Headers({ cookie })]) expect((await ctxOf(h)).actor?.userId).toBe(user.userId);

    await api.caller(user).apiToken.revoke({ tokenId });
    expect((await ctxOf(bearer(token))).authError).toBe("API token revoked");
    expect((await ctxOf(bearer(other.token))).actor?.userId).toBe(user.userId);

    await api.caller(admin).tenant.setAccess({ userId: user.userId, enabled: false });
    expect((await ctxOf(bearer(other.token))).actor).toBeNull();
    expect((await ctxOf(new Headers({ cookie }))).actor).toBeNull();
    expect(await caller(await ctxOf(new Headers({ cookie }))).auth.me()).toBeNull();
  });

  it("applies a role change and a sign-out at once", async () => {
    const user = await api.makeUser("cc");
    const cookie = await sessionCookie(user);
    expect((await ctxOf(new Headers({ cookie }))).actor?.role).toBe("user");
    await api.caller(admin).tenant.setRole({ userId: user.userId, role: "tenant_admin" });
    expect((await ctxOf(new Headers({ cookie }))).actor?.role).toBe("tenant_admin");
    await caller(await ctxOf(new Headers({ cookie }))).auth.logout();
    expect((await ctxOf(new Headers({ cookie }))).actor).toBeNull();
  });

  it("never outlives the credential's own expiry, and forgets what a lookup read before a change", async () => {
    const cache = new CallerCache(60_000);
    const actor = { userId: "u" } as Actor;
    let reads = 0;
    const resolve = async () => { reads++; return { actor, expiresAt: new Date(1_000_500) }; };
    await cache.actorFor("k", resolve, 1_000_000);
    await cache.actorFor("k", resolve, 1_000_400);
    expect(reads).toBe(1);
    await cache.actorFor("k", resolve, 1_000_600);
    expect(reads).toBe(2);
    // A lookup that began before a clear (it may have read the old rows) is answered but not kept.
    let release!: () => void;
    const slow = cache.actorFor("s", () => new Promise((r) => { release = () => r({ actor, expiresAt: new Date(2_000_000) }); }), 1_000_000);
    cache.clear();
    release();
    await slow;
    expect(cache.size()).toBe(0);
  });
});
