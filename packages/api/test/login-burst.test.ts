// The per-account login backoff under parallel guesses: a try is reserved (counted) in the database
// before its password is hashed, so a burst cannot all slip past a backoff that only counted
// failures after the slow check. On SQLite and PostgreSQL (several portals share the count there).
import { describe, it, expect, beforeAll, afterAll } from "vitest";
import { TRPCError } from "@trpc/server";
import { openTestApi, providers, type TestApi } from "./harness.ts";
import { appRouter, createCallerFactory, createContext, type Actor } from "../src/index.ts";

const PASSWORD = "password-123";
const callerFactory = createCallerFactory(appRouter);

describe.each(providers)("login backoff under bursts on %s", (provider) => {
  let api: TestApi;
  beforeAll(async () => { api = await openTestApi(provider); });
  afterAll(async () => api?.close());

  /** One login from `ip` (as the portal's route resolved it), answered as "ok" or "CODE: message". */
  async function login(email: string, password: string, ip: string): Promise<string> {
    const headers = new Headers({ origin: "http://localhost:3000", "x-vdi-client-ip": ip });
    const ctx = await createContext(api.deps, { headers, resHeaders: new Headers() });
    try {
      await callerFactory(ctx).auth.login({ email, password });
      return "ok";
    } catch (e) {
      return e instanceof TRPCError ? `${e.code}: ${e.message}` : `other: ${String(e)}`;
    }
  }
  const from = (i: number) => `127.0.0.${(i % 20) + 1}`;
  const tally = (results: string[]) => results.reduce<Record<string, number>>((t, r) => ({ ...t, [r.split(":")[0]!]: (t[r.split(":")[0]!] ?? 0) + 1 }), {});

  it("checks at most 5 of 150 wrong passwords sent at once from 20 addresses; the rest wait", async () => {
    const user: Actor = await api.makeUser("burst");
    const t0 = Date.now();
    const results = await Promise.all(Array.from({ length: 150 }, (_, i) => login(user.email, `wrong-password-${i}`, from(i))));
    const seconds = (Date.now() - t0) / 1000;
    const t = tally(results);
    console.log(`${provider}: 150-way burst of wrong passwords in ${seconds.toFixed(1)} s: ${JSON.stringify(t)}`);
    // Five free tries, then one more each time the backoff (1, 2, 4 … s) has run out meanwhile.
    const windows = seconds >= 1 ? Math.floor(Math.log2(seconds + 1)) : 0;
    expect(t.UNAUTHORIZED).toBeGreaterThanOrEqual(5);
    expect(t.UNAUTHORIZED).toBeLessThanOrEqual(5 + windows);
    expect(t.TOO_MANY_REQUESTS).toBe(150 - t.UNAUTHORIZED!);
    expect(results.filter((r) => r.startsWith("TOO_MANY_REQUESTS")).every((r) => /Too many failed logins for this account: wait \d+ seconds/.test(r))).toBe(true);
    // Every try that was checked is counted, none more.
    expect((await api.db.loginThrottle.findUniqueOrThrow({ where: { email: user.email } })).tries).toBe(t.UNAUTHORIZED);
  });

  it("counts N concurrent wrong tries as N", async () => {
    const user: Actor = await api.makeUser("burst");
    expect(await Promise.all([0, 1, 2].map((i) => login(user.email, `wrong-${i}`, from(i))))).toEqual(Array(3).fill("UNAUTHORIZED: Wrong email or password"));
    expect((await api.db.loginThrottle.findUniqueOrThrow({ where: { email: user.email } })).tries).toBe(3);
    expect(await Promise.all([3, 4].map((i) => login(user.email, `wrong-${i}`, from(i))))).toEqual(Array(2).fill("UNAUTHORIZED: Wrong email or password"));
    expect(await login(user.email, PASSWORD, "127.0.0.50")).toMatch(/^TOO_MANY_REQUESTS/);
  });

  it("refuses the right password inside a burst once 5 wrong ones are in flight: no session", async () => {
    const user: Actor = await api.makeUser("burst");
    const wrong = [0, 1, 2, 3, 4].map((i) => login(user.email, `wrong-${i}`, from(i)));
    // Sent once the five are counted, while they are still being hashed (as position 9 of a
    // 12-way burst was).
    while (((await api.db.loginThrottle.findUnique({ where: { email: user.email } }))?.tries ?? 0) < 5) await new Promise((r) => setTimeout(r, 2));
    const right = login(user.email, PASSWORD, from(9));
    const more = [10, 11].map((i) => login(user.email, `wrong-${i}`, from(i)));
    const [r, ...others] = await Promise.all([right, ...wrong, ...more]);
    console.log(`${provider}: right password inside a burst after 5 wrong: ${r}`);
    expect(r).toMatch(/^TOO_MANY_REQUESTS: Too many failed logins for this account/);
    expect(tally(others)).toEqual({ UNAUTHORIZED: 5, TOO_MANY_REQUESTS: 2 });
    expect(await api.db.session.count({ where: { userId: user.userId } })).toBe(0);
  });

  it("resets on the right password; a refused try is not counted", async () => {
    const user: Actor = await api.makeUser("burst");
    for (let i = 0; i < 4; i++) expect(await login(user.email, `wrong-${i}`, from(i))).toMatch(/^UNAUTHORIZED/);
    expect(await login(user.email, PASSWORD, from(5))).toBe("ok");
    // Five fresh tries again after the reset.
    const burst = await Promise.all([0, 1, 2, 3, 4].map((i) => login(user.email, `wrong-${i}`, from(i))));
    expect(burst.every((r) => r.startsWith("UNAUTHORIZED"))).toBe(true);
  });
});
