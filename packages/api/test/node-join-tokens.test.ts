// One-time join tokens (docs/multi-node.md) on both databases: a platform admin makes one (shown
// once, its hash kept); a host joins with it, once: a second use, an expired or a revoked token
// is refused in the same words as a wrong one, and two agents racing with one token make one
// node. A name already registered is not taken with a token, and the token stays unspent. A node
// that joined registers again with its own credentials alone. Tenant admins cannot make tokens;
// every step is in the audit trail without the token.
import { describe, it, expect, beforeAll, afterAll } from "vitest";
import { code, openTestApi, providers, type TestApi } from "./harness.ts";
import type { Actor } from "../src/index.ts";

const caps = { engines: { qemu: { available: true, version: "7.2", accel: "tcg" } }, images: [] };
const input = (joinToken: string, name: string) => ({ joinToken, name, apiUrl: "http://127.0.0.1:1", consoleUrl: "ws://127.0.0.1:1", totalCpus: 2, totalMemoryMiB: 4096, capabilities: caps });
const bearer = (c: { nodeId: string; secret: string }) => new Headers({ authorization: `Bearer node.${c.nodeId}.${c.secret}` });

describe.each(providers)("node join tokens on %s", (provider) => {
  let api: TestApi;
  let root: Actor, tenantAdmin: Actor;
  beforeAll(async () => {
    api = await openTestApi(provider);
    root = await api.makeUser("platform", "admin");
    tenantAdmin = await api.makeUser("office", "tenant_admin");
  });
  afterAll(async () => api?.close());

  it("joins one host with a token, once; a used, expired, revoked or wrong token is refused alike", async () => {
    const t = await api.caller(root).node.createJoinToken({ note: "rack 2, host b", expiresInHours: 2 });
    expect(t.token).toMatch(/^vdij_[A-Za-z0-9_-]{43}$/);
    expect(t).toMatchObject({ note: "rack 2, host b", state: "live" });
    // Only its hash is kept.
    expect(JSON.stringify(await api.db.nodeJoinToken.findMany())).not.toContain(t.token.slice(5));
    const joined = await api.caller(null).nodeAgent.register(input(t.token, "host-b"));
    expect((await api.caller(root).node.joinTokens()).find((x) => x.joinTokenId === t.joinTokenId)).toMatchObject({ state: "used", usedByNodeId: joined.nodeId });
    expect(await code(api.caller(null).nodeAgent.register(input(t.token, "host-c")))).toBe("UNAUTHORIZED: Invalid join token");

    const old = await api.caller(root).node.createJoinToken({ expiresInHours: 1 });
    await api.db.nodeJoinToken.update({ where: { id: old.joinTokenId }, data: { expiresAt: new Date(Date.now() - 1000) } });
    expect(await code(api.caller(null).nodeAgent.register(input(old.token, "host-d")))).toBe("UNAUTHORIZED: Invalid join token");
    const revoked = await api.caller(root).node.createJoinToken({});
    expect((await api.caller(root).node.revokeJoinToken({ joinTokenId: revoked.joinTokenId })).state).toBe("revoked");
    expect(await code(api.caller(null).nodeAgent.register(input(revoked.token, "host-e")))).toBe("UNAUTHORIZED: Invalid join token");
    expect(await code(api.caller(null).nodeAgent.register(input(`vdij_${"x".repeat(43)}`, "host-f")))).toBe("UNAUTHORIZED: Invalid join token");
    expect(await code(api.caller(root).node.revokeJoinToken({ joinTokenId: t.joinTokenId }))).toBe("PRECONDITION_FAILED: This join token was used already: remove the node it joined instead");
    expect(await api.db.node.count({ where: { name: { in: ["host-c", "host-d", "host-e", "host-f"] } } })).toBe(0);
  });

  it("makes one node of two agents racing with one token", async () => {
    const t = await api.caller(root).node.createJoinToken({});
    const got = await Promise.all(["race-1", "race-2"].map((n) => code(api.caller(null).nodeAgent.register(input(t.token, n)).then(() => "ok"))));
    expect(got.sort()).toEqual(["UNAUTHORIZED: Invalid join token", "ok"]);
    expect(await api.db.node.count({ where: { name: { startsWith: "race-" } } })).toBe(1);
  });

  it("does not spend a token on a name already taken, and the joined node registers again with its credentials alone", async () => {
    const first = await api.caller(root).node.createJoinToken({});
    const node = await api.caller(null).nodeAgent.register(input(first.token, "host-g"));
    const t = await api.caller(root).node.createJoinToken({});
    expect(await code(api.caller(null).nodeAgent.register(input(t.token, "host-g")))).toMatch(/^CONFLICT: A node named "host-g" is already registered/);
    expect((await api.caller(root).node.joinTokens()).find((x) => x.joinTokenId === t.joinTokenId)?.state).toBe("live");
    // Its token is spent: its credentials prove who it is.
    const again = await api.caller(null, bearer(node)).nodeAgent.register(input(first.token, "host-g"));
    expect(again.nodeId).toBe(node.nodeId);
    // Removed, the node needs a new token.
    await api.caller(root).node.remove({ nodeId: node.nodeId });
    expect(await code(api.caller(null, bearer(again)).nodeAgent.register(input(first.token, "host-g")))).toBe("UNAUTHORIZED: Invalid join token");
    expect((await api.caller(null).nodeAgent.register(input(t.token, "host-g"))).nodeId).not.toBe(node.nodeId);
  });

  it("is for platform admins only, and the trail records each step without the token", async () => {
    expect(await code(api.caller(tenantAdmin).node.createJoinToken({}))).toMatch(/^FORBIDDEN/);
    expect(await code(api.caller(tenantAdmin).node.joinTokens())).toMatch(/^FORBIDDEN/);
    expect(await code(api.caller(root).node.createJoinToken({ expiresInHours: 24 * 30 }))).toMatch(/^BAD_REQUEST/);
    const t = await api.caller(root).node.createJoinToken({ note: "audited" });
    const events = await api.db.auditEvent.findMany({ where: { action: { in: ["node.createJoinToken", "node.revokeJoinToken", "nodeAgent.register"] } } });
    expect(events.some((e) => e.action === "node.createJoinToken" && e.outcome === "ok")).toBe(true);
    expect(events.some((e) => e.action === "nodeAgent.register" && e.outcome === "denied")).toBe(true);
    expect(JSON.stringify(events)).not.toContain(t.token.slice(5));
  });
});
