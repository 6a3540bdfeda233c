// What one request to the tRPC endpoint may cost: at most 10 procedures, a bounded URL, input
// nested at most 32 deep, and per caller at most 16 requests running at once (a short queue, then
// 429). Against the real router through tRPC's fetch adapter, as the portal's route serves it.
import { describe, it, expect, beforeAll, afterAll } from "vitest";
import { fetchRequestHandler } from "@trpc/server/adapters/fetch";
import { openTestApi, type TestApi } from "@vdi/api/testing";
import { appRouter, createContext, type Actor } from "@vdi/api";
import { InFlightLimit, MAX_BATCH_PROCEDURES, MAX_TRPC_URL_CHARS, callerKey, trpcRequestRefusal } from "../src/server/request-limits.ts";

const BASE = "http://127.0.0.1:3300/api/trpc";

describe("trpcRequestRefusal", () => {
  it("refuses a batch of more than 10 procedures at once, saying so", async () => {
    const paths = Array.from({ length: 1900 }, () => "vm.list").join(",");
    const res = trpcRequestRefusal(new Request(`${BASE}/${paths}?batch=1`));
    expect(res?.status).toBe(400);
    expect(await res!.json()).toMatchObject({ error: { message: `At most ${MAX_BATCH_PROCEDURES} procedures in one request (this one names 1900)`, data: { code: "BAD_REQUEST", httpStatus: 400 } } });
    // Any path naming more than ten, batch flag or not, and its URL-encoded form.
    expect(trpcRequestRefusal(new Request(`${BASE}/${Array(11).fill("vm.list").join("%2C")}`))?.status).toBe(400);
    expect(trpcRequestRefusal(new Request(`${BASE}/${Array(10).fill("vm.list").join(",")}?batch=1`))).toBeNull();
  });

  it("refuses a URL over the cap with 414", async () => {
    const res = trpcRequestRefusal(new Request(`${BASE}/vm.list?input=${"x".repeat(MAX_TRPC_URL_CHARS)}`));
    expect(res?.status).toBe(414);
    expect((await res!.json()).error.message).toMatch(/Request URL too long/);
  });
});

describe("the tRPC endpoint over HTTP", () => {
  let api: TestApi;
  let dora: Actor;
  beforeAll(async () => {
    api = await openTestApi("sqlite");
    dora = await api.makeUser("http", "user");
  });
  afterAll(async () => api?.close());

  const serve = (req: Request) => trpcRequestRefusal(req) ?? fetchRequestHandler({
    endpoint: "/api/trpc", req, router: appRouter, maxBatchSize: MAX_BATCH_PROCEDURES,
    createContext: ({ resHeaders }) => createContext(api.deps, { headers: req.headers, resHeaders }),
  });

  it("answers a deeply nested body or query input with 400, anonymous auth.login included", async () => {
    const deep = "[".repeat(20_000) + "]".repeat(20_000);
    for (const req of [
      new Request(`${BASE}/auth.login`, { method: "POST", headers: { "content-type": "application/json" }, body: `{"email":"a@b.test","password":"x","title":${deep}}` }),
      new Request(`${BASE}/auth.login?batch=1`, { method: "POST", headers: { "content-type": "application/json" }, body: `{"0":{"email":"a@b.test","password":${deep}}}` }),
      new Request(`${BASE}/vm.list?input=${encodeURIComponent(`{"x":${"[".repeat(100)}${"]".repeat(100)}}`)}`),
    ]) {
      const res = await serve(req);
      expect(res.status).toBe(400);
      expect(JSON.stringify(await res.json())).toMatch(/nested too deeply/);
    }
    expect(await api.db.auditEvent.count({ where: { outcome: "ok" } })).toBe(0);
  });

  it("keeps a small batch working", async () => {
    const res = await serve(new Request(`${BASE}/auth.providers,auth.providers?batch=1&input=${encodeURIComponent("{}")}`));
    expect(res.status).toBe(200);
    expect(await res.json()).toHaveLength(2);
    void dora;
  });
});

describe("InFlightLimit", () => {
  it("lets 16 run per caller, queues a few briefly, then refuses; other callers are not slowed", async () => {
    const limit = new InFlightLimit({ perCaller: 16, queue: 4, waitMs: 200 });
    const held: Array<() => void> = [];
    for (let i = 0; i < 16; i++) held.push((await limit.acquire("alice"))!);
    // Fifty other callers at once, each with a few in flight: none waits.
    const others = await Promise.all(Array.from({ length: 50 }, (_, i) => Promise.all([limit.acquire(`user-${i}`), limit.acquire(`user-${i}`)])));
    expect(others.flat().every((r) => typeof r === "function")).toBe(true);
    // Alice's 17th waits for a slot: given one within the wait, it runs.
    const waiting = limit.acquire("alice");
    held.shift()!();
    expect(typeof (await waiting)).toBe("function");
    // Past the wait: refused (null), promptly.
    const t0 = Date.now();
    expect(await limit.acquire("alice")).toBeNull();
    expect(Date.now() - t0).toBeLessThan(1000);
    // Past the queue: refused at once.
    const queued = Array.from({ length: 4 }, () => limit.acquire("alice"));
    const t1 = Date.now();
    expect(await limit.acquire("alice")).toBeNull();
    expect(Date.now() - t1).toBeLessThan(50);
    await Promise.all(queued);
    for (const r of others.flat()) (r as () => void)();
    expect(limit.size()).toBe(1);  // only alice's slots are still held
  });

  it("keys a caller by credential (token, session cookie), else by address", () => {
    const h = (o: Record<string, string>) => new Headers(o);
    expect(callerKey(h({ authorization: "Bearer vdi_abc", cookie: "vdi.session_token=s1" }), "10.0.0.1")).toBe(callerKey(h({ authorization: "Bearer vdi_abc" }), "10.0.0.2"));
    expect(callerKey(h({ cookie: "a=b; vdi.session_token=s1" }), "10.0.0.1")).toBe(callerKey(h({ cookie: "__Secure-vdi.session_token=s1" }), "10.0.0.9"));
    expect(callerKey(h({ cookie: "vdi.session_token=s1" }), "x")).not.toBe(callerKey(h({ cookie: "vdi.session_token=s2" }), "x"));
    expect(callerKey(h({}), "10.0.0.1")).toBe("ip:10.0.0.1");
  });
});
