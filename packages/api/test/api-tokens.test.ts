// API tokens over the real HTTP endpoint, on SQLite and PostgreSQL: scopes, expiry, revocation,
// tampering, tenancy, disabled users, and that a token never manages tokens.
import { describe, it, expect, beforeAll, afterAll } from "vitest";
import { TRPCError } from "@trpc/server";
import { openTestApi, providers, serveApi, type TestApi } from "./harness.ts";
import { appRouter, createContext, createCallerFactory, seed, type Actor } from "../src/index.ts";
import { requiredScope } from "../src/services/api-token/scopes.ts";
import { callerCache } from "../src/services/auth/caller-cache.ts";

const caps = { engines: { qemu: { available: true, version: "7.2", accel: "tcg" } }, images: ["debian-shell"] };
const template = { name: "debian-shell", title: "Debian shell", engine: "qemu" as const, defaultMemoryMiB: 256, minMemoryMiB: 128, maxMemoryMiB: 1024, defaultCpus: 1, maxCpus: 2, diskSizeGiB: 1 };
const TOKEN_RE = /^vdi_[0-9a-f]{12}_[A-Za-z0-9_-]{43}$/;

async function code(p: Promise<unknown>): Promise<string> {
  try {
    await p;
  } catch (e) {
    return e instanceof TRPCError ? `${e.code}: ${e.message}` : `other: ${String(e)}`;
  }
  return "ok";
}

interface Reply { status: number; code: string | null; message: string | null; data: unknown; raw: string }
const procedures = appRouter._def.procedures as unknown as Record<string, { _def: { type: "query" | "mutation" | "subscription" } }>;

describe.each(providers)("API tokens on %s", (provider) => {
  let api: TestApi;
  let server: { url: string; close(): Promise<void> };
  let alice: Actor;
  let bob: Actor;
  let templateId: string;
  let aliceVmId: string;

  /** One tRPC call over HTTP, as a script would make it (no tRPC client). */
  async function http(token: string | null, path: string, input?: unknown, extra: Record<string, string> = {}): Promise<Reply> {
    // Queries are GETs, mutations POSTs, as tRPC's HTTP endpoint wants them.
    const method = procedures[path]?._def.type === "query" ? "GET" : "POST";
    const headers: Record<string, string> = { ...extra };
    if (token !== null) headers.authorization = `Bearer ${token}`;
    let url = `${server.url}/api/trpc/${path}`;
    let body: string | undefined;
    if (method === "GET" && input !== undefined) url += `?input=${encodeURIComponent(JSON.stringify(input))}`;
    if (method === "POST") {
      headers["content-type"] = "application/json";
      body = JSON.stringify(input ?? null);
    }
    const res = await fetch(url, { method, headers, body });
    const raw = await res.text();
    const json = JSON.parse(raw) as { result?: { data: unknown }; error?: { message: string; data?: { code?: string } } };
    return { status: res.status, code: json.error?.data?.code ?? null, message: json.error?.message ?? null, data: json.result?.data, raw };
  }

  const newToken = (actor: Actor, scopes: ("vm:read" | "vm:write" | "console" | "template:write")[], name = "script", expiresInDays = 30) =>
    api.caller(actor).apiToken.create({ name, scopes, expiresInDays });

  beforeAll(async () => {
    api = await openTestApi(provider);
    await seed(api.deps, { admin: { email: "admin@x.test", password: "admin-password" }, demo: { email: "demo@x.test", password: "demo-password" }, templates: [template] });
    alice = await api.makeUser("acme");
    bob = await api.makeUser("evil");
    templateId = (await api.caller(alice).template.list())[0]!.id;
    const reg = await api.caller(null).nodeAgent.register({ joinToken: "test-join-token-0123456789", name: "n1", apiUrl: "http://127.0.0.1:1", consoleUrl: "ws://127.0.0.1:1", totalCpus: 8, totalMemoryMiB: 16384, capabilities: caps });
    await api.caller(null, new Headers({ authorization: `Bearer node.${reg.nodeId}.${reg.secret}` })).nodeAgent.sync({ vms: [] });
    aliceVmId = (await api.caller(alice).vm.create({ templateId, name: "alice-1" })).vmId;
    server = await serveApi(api.deps);
  });
  afterAll(async () => {
    await server?.close();
    await api?.close();
  });

  it("shows the token once; it works over HTTP for vm.list; list never returns the secret", async () => {
    const created = await newToken(alice, ["vm:read"], "ci read");
    expect(created.token).toMatch(TOKEN_RE);
    expect(created.token.startsWith(`vdi_${created.prefix}_`)).toBe(true);
    expect(created).toMatchObject({ name: "ci read", scopes: ["vm:read"] });
    const days = (created.expiresAt.getTime() - Date.now()) / 86_400_000;
    expect(days).toBeGreaterThan(29.9);
    expect(days).toBeLessThan(30.1);

    const stored = await api.db.apiToken.findUniqueOrThrow({ where: { id: created.tokenId } });
    const secret = created.token.slice(`vdi_${created.prefix}_`.length);
    expect(stored.secretHash).toMatch(/^[0-9a-f]{64}$/);
    expect(JSON.stringify(stored)).not.toContain(secret);
    expect(stored.lastUsedAt).toBeNull();

    const r = await http(created.token, "vm.list");
    expect(r.status).toBe(200);
    expect((r.data as { id: string; name: string }[]).map((v) => v.name)).toEqual(["alice-1"]);
    const used = (await api.db.apiToken.findUniqueOrThrow({ where: { id: created.tokenId } })).lastUsedAt;
    expect(used).toBeInstanceOf(Date);
    // At most one lastUsedAt write a minute.
    expect((await http(created.token, "vm.get", { vmId: aliceVmId })).status).toBe(200);
    expect((await api.db.apiToken.findUniqueOrThrow({ where: { id: created.tokenId } })).lastUsedAt).toEqual(used);
    await api.db.apiToken.update({ where: { id: created.tokenId }, data: { lastUsedAt: new Date(Date.now() - 61_000) } });
    // The caller is remembered for CALLER_CACHE_MS, and lastUsedAt is written when it is looked up again.
    callerCache().clear();
    await http(created.token, "vm.list");
    expect((await api.db.apiToken.findUniqueOrThrow({ where: { id: created.tokenId } })).lastUsedAt!.getTime()).toBeGreaterThan(Date.now() - 5_000);

    const listed = await api.caller(alice).apiToken.list();
    const mine = listed.find((t) => t.id === created.tokenId)!;
    expect(mine).toMatchObject({ name: "ci read", prefix: created.prefix, scopes: ["vm:read"], status: "active", revokedAt: null });
    expect(mine).not.toHaveProperty("secretHash");
    expect(mine).not.toHaveProperty("token");
    const wire = JSON.stringify(listed);
    expect(wire).not.toContain(secret);
    expect(wire).not.toContain(stored.secretHash);
    // Other users never see one's tokens.
    expect((await api.caller(bob).apiToken.list()).find((t) => t.id === created.tokenId)).toBeUndefined();
  });

  it("refuses a read-only token on vm.create, naming the missing scope; a vm:write token creates and stops", async () => {
    const read = await newToken(alice, ["vm:read"]);
    const before = await api.db.vm.count();
    const refused = await http(read.token, "vm.create", { templateId, name: "by-read-token" });
    expect(refused.status).toBe(403);
    expect(refused.code).toBe("FORBIDDEN");
    expect(refused.message).toMatch(/lacks the "vm:write" scope/);
    expect(refused.raw).not.toMatch(/at .*\.ts:\d+/);
    expect(await api.db.vm.count()).toBe(before);
    expect((await http(read.token, "vm.stop", { vmId: aliceVmId })).code).toBe("FORBIDDEN");
    expect((await http(read.token, "console.open", { vmId: aliceVmId })).message).toMatch(/"console" scope/);

    const write = await newToken(alice, ["vm:read", "vm:write"]);
    const made = await http(write.token, "vm.create", { templateId, name: "by-write-token" });
    expect(made.status).toBe(200);
    const vmId = (made.data as { vmId: string }).vmId;
    expect(await api.db.vm.findUniqueOrThrow({ where: { id: vmId } })).toMatchObject({ tenantId: alice.tenantId, name: "by-write-token" });
    // The audit trail says it came through a token.
    const ev = await api.db.auditEvent.findFirst({ where: { action: "vm.create", actorId: alice.userId, outcome: "ok" }, orderBy: { at: "desc" } });
    expect(ev?.via).toBe("token");
    // A write-only token cannot read: scopes do not imply each other.
    const writeOnly = await newToken(alice, ["vm:write"]);
    expect((await http(writeOnly.token, "vm.list")).message).toMatch(/"vm:read" scope/);
  });

  it("never lets a token do more than the user's role", async () => {
    const t = await newToken(alice, ["vm:read", "template:write"]);
    const r = await http(t.token, "template.fromVm", { vmId: aliceVmId, title: "For everyone", scope: "global" });
    expect(r.code).toBe("FORBIDDEN");
    expect(r.message).not.toMatch(/scope that/);
  });

  it("refuses expired, revoked, tampered, malformed and unknown tokens with UNAUTHORIZED and a short reason", async () => {
    const expired = await newToken(alice, ["vm:read"]);
    await api.db.apiToken.update({ where: { id: expired.tokenId }, data: { expiresAt: new Date(Date.now() - 1000) } });
    let r = await http(expired.token, "vm.list");
    expect([r.status, r.code, r.message]).toEqual([401, "UNAUTHORIZED", "API token expired"]);
    expect((await api.caller(alice).apiToken.list()).find((x) => x.id === expired.tokenId)?.status).toBe("expired");

    const revoked = await newToken(alice, ["vm:read"]);
    expect((await http(revoked.token, "vm.list")).status).toBe(200);
    const rv = await api.caller(alice).apiToken.revoke({ tokenId: revoked.tokenId });
    r = await http(revoked.token, "vm.list");
    expect([r.status, r.message]).toEqual([401, "API token revoked"]);
    // Revoking again is harmless and keeps the first time; another user cannot revoke it.
    expect((await api.caller(alice).apiToken.revoke({ tokenId: revoked.tokenId })).revokedAt).toEqual(rv.revokedAt);
    expect(await code(api.caller(bob).apiToken.revoke({ tokenId: revoked.tokenId }))).toMatch(/^NOT_FOUND/);

    const good = await newToken(alice, ["vm:read"]);
    const last = good.token.at(-1) === "A" ? "B" : "A";
    r = await http(`${good.token.slice(0, -1)}${last}`, "vm.list");
    expect([r.status, r.message]).toEqual([401, "Unknown API token"]);
    r = await http(`vdi_${"0".repeat(12)}_${good.token.slice(-43)}`, "vm.list");
    expect([r.status, r.message]).toEqual([401, "Unknown API token"]);
    r = await http("vdi_garbage", "vm.list");
    expect([r.status, r.message]).toEqual([401, "Malformed API token"]);
    r = await http(good.token, "vm.create", { templateId, name: "x" });
    expect(r.status).toBe(403);
    for (const reply of [r, await http("vdi_garbage", "vm.list")]) expect(reply.raw).not.toMatch(/stack|\.ts:\d+/);
    // A token wins over a cookie: a bad token with a cookie is still refused.
    r = await http("vdi_garbage", "vm.list", undefined, { cookie: "vdi.session_token=whatever" });
    expect(r.status).toBe(401);
  });

  it("keeps a token inside its user's tenant", async () => {
    const t = await newToken(bob, ["vm:read", "vm:write", "console"]);
    const list = await http(t.token, "vm.list");
    expect(list.data).toEqual([]);
    expect((await http(t.token, "vm.get", { vmId: aliceVmId })).code).toBe("NOT_FOUND");
    expect((await http(t.token, "vm.delete", { vmId: aliceVmId })).code).toBe("NOT_FOUND");
    expect((await http(t.token, "console.open", { vmId: aliceVmId })).code).toBe("NOT_FOUND");
    expect((await api.db.vm.findUniqueOrThrow({ where: { id: aliceVmId } })).desiredState).not.toBe("deleted");
  });

  it("never lets a token manage tokens, log out, or act as a node", async () => {
    const all = await newToken(alice, ["vm:read", "vm:write", "console", "template:write"]);
    for (const [path, input] of [["apiToken.list", undefined], ["apiToken.create", { name: "child", scopes: ["vm:read"], expiresInDays: 1 }], ["apiToken.revoke", { tokenId: all.tokenId }], ["auth.logout", null]] as const) {
      const r = await http(all.token, path, input);
      expect([path, r.code, r.message]).toEqual([path, "FORBIDDEN", `API tokens cannot call ${path}`]);
    }
    expect(await api.db.apiToken.count({ where: { name: "child" } })).toBe(0);
    expect((await api.db.apiToken.findUniqueOrThrow({ where: { id: all.tokenId } })).revokedAt).toBeNull();
    // The service refuses too, should a token actor ever reach it another way.
    const tokenActor: Actor = { ...alice, via: "token", scopes: ["vm:read", "vm:write", "console", "template:write"] };
    const ctx = { ...api.deps, headers: new Headers(), resHeaders: new Headers(), ip: null, actor: tokenActor };
    expect(await code(createCallerFactory(appRouter)(ctx).apiToken.list())).toMatch(/^FORBIDDEN/);
    const { createApiToken } = await import("../src/services/api-token/manage-api-tokens.ts");
    expect(await code(createApiToken(api.db, tokenActor, { name: "x", scopes: ["vm:read"], expiresInDays: 1 }))).toMatch(/managed from a signed-in session/);
    // Node credentials stay a separate format and keep working next to tokens.
    expect((await http(all.token, "nodeAgent.sync", { vms: [] })).code).toBe("UNAUTHORIZED");
  });

  it("maps every VM, template, snapshot, operation, node and console procedure to a scope, and nothing else (platform-admin ones included)", () => {
    const paths = Object.entries(procedures);
    const covered = /^(vm|template|snapshot|operation|node|console)\./;
    for (const [path, proc] of paths) {
      const scope = requiredScope(path, proc._def.type);
      // Platform administration (node.remove, template.setRetired, ...) is done from a session, never by a token.
      const adminOnly = (proc._def as { meta?: { access?: string } }).meta?.access === "admin";
      if (covered.test(path) && !adminOnly) expect([path, scope]).toEqual([path, expect.any(String)]);
      else expect([path, scope]).toEqual([path, null]);
    }
    expect(requiredScope("vm.list", "mutation")).toBeNull();
    expect(requiredScope("vm.create", "query")).toBeNull();
    expect(requiredScope("constructor", "query")).toBeNull();
  });

  it("refuses a disabled user's token and treats their session as logged out", async () => {
    const carol = await api.makeUser("acme");
    const t = await newToken(carol, ["vm:read"]);
    expect((await http(t.token, "vm.list")).status).toBe(200);
    const resHeaders = new Headers();
    const anon = await createContext(api.deps, { headers: new Headers(), resHeaders });
    await createCallerFactory(appRouter)(anon).auth.login({ email: carol.email, password: "password-123" });
    const cookie = resHeaders.getSetCookie().find((c) => c.startsWith("vdi.session_token="))!.split(";")[0]!;
    const live = await createContext(api.deps, { headers: new Headers({ cookie }), resHeaders: new Headers() });
    expect(live.actor).toMatchObject({ userId: carol.userId, via: "session", scopes: null });

    await api.db.user.update({ where: { id: carol.userId }, data: { disabledAt: new Date() } });
    // Written behind the portal's back: what the portal does after its own changes (a change made
    // elsewhere is honoured within CALLER_CACHE_MS, caller-cache.test.ts).
    callerCache().clear();
    const r = await http(t.token, "vm.list");
    expect([r.status, r.message]).toEqual([401, "User account disabled"]);
    expect((await createContext(api.deps, { headers: new Headers({ cookie }), resHeaders: new Headers() })).actor).toBeNull();
    expect((await http(null, "vm.list", undefined, { cookie })).code).toBe("UNAUTHORIZED");
  });

  it("validates names, scopes and expiry, and allows at most 20 active tokens per user", async () => {
    const dave = await api.makeUser("acme");
    const c = api.caller(dave).apiToken;
    expect(await code(c.create({ name: "", scopes: ["vm:read"], expiresInDays: 1 }))).toMatch(/^BAD_REQUEST: name: Give the token a name/);
    expect(await code(c.create({ name: "x".repeat(65), scopes: ["vm:read"], expiresInDays: 1 }))).toMatch(/^BAD_REQUEST: name: Token names are at most 64/);
    expect(await code(c.create({ name: "x", scopes: [], expiresInDays: 1 }))).toMatch(/^BAD_REQUEST: scopes: Choose at least one scope/);
    expect(await code(c.create({ name: "x", scopes: ["admin" as "vm:read"], expiresInDays: 1 }))).toMatch(/^BAD_REQUEST/);
    expect(await code(c.create({ name: "x", scopes: ["vm:read"], expiresInDays: 0 }))).toMatch(/^BAD_REQUEST: expiresInDays: At least 1 day/);
    expect(await code(c.create({ name: "x", scopes: ["vm:read"], expiresInDays: 366 }))).toMatch(/^BAD_REQUEST: expiresInDays: At most 365 days/);
    expect(await code(c.create({ name: "x", scopes: ["vm:read"], expiresInDays: 1.5 }))).toMatch(/^BAD_REQUEST/);
    expect((await c.create({ name: "x", scopes: ["vm:write", "vm:read", "vm:read"], expiresInDays: 365 })).scopes).toEqual(["vm:read", "vm:write"]);

    for (let i = 1; i < 20; i++) await c.create({ name: `t${i}`, scopes: ["vm:read"], expiresInDays: 1 });
    expect(await code(c.create({ name: "one too many", scopes: ["vm:read"], expiresInDays: 1 }))).toMatch(/^FORBIDDEN: At most 20 active API tokens/);
    // Revoked and expired tokens do not count.
    const [first, second] = await c.list();
    await c.revoke({ tokenId: first!.id });
    await api.db.apiToken.update({ where: { id: second!.id }, data: { expiresAt: new Date(Date.now() - 1) } });
    await c.create({ name: "replacement 1", scopes: ["vm:read"], expiresInDays: 1 });
    await c.create({ name: "replacement 2", scopes: ["vm:read"], expiresInDays: 1 });
    expect(await code(c.create({ name: "again too many", scopes: ["vm:read"], expiresInDays: 1 }))).toMatch(/^FORBIDDEN/);
  });
});
