// Registering a node: the join token makes a new node, but a name already registered is taken only
// by the node holding it (its current credentials, which suffice on their own): nobody with the
// join token can take over another node's name, and with it that node's VMs.
import { describe, it, expect, beforeAll, afterAll } from "vitest";
import { TRPCError } from "@trpc/server";
import { openTestApi, providers, type TestApi } from "./harness.ts";

const JOIN = "test-join-token-0123456789";
const caps = { engines: { qemu: { available: true, version: "7.2", accel: "tcg" } }, images: [] };
const input = (name: string, apiUrl = "http://127.0.0.1:1") => ({ joinToken: JOIN, name, apiUrl, consoleUrl: "ws://127.0.0.1:1", totalCpus: 2, totalMemoryMiB: 4096, capabilities: caps });
const bearer = (c: { nodeId: string; secret: string }) => new Headers({ authorization: `Bearer node.${c.nodeId}.${c.secret}` });

async function outcome(p: Promise<unknown>): Promise<string> {
  try { await p; } catch (e) { return e instanceof TRPCError ? `${e.code}: ${e.message}` : `other: ${String(e)}`; }
  return "ok";
}

describe.each(providers)("node registration on %s", (provider) => {
  let api: TestApi;
  beforeAll(async () => { api = await openTestApi(provider); });
  afterAll(async () => api?.close());

  const sync = (c: { nodeId: string; secret: string }) => api.caller(null, bearer(c)).nodeAgent.sync({ vms: [] });

  it("refuses to re-register an existing name with the join token alone: CONFLICT, and the node keeps its credentials and address", async () => {
    const first = await api.caller(null).nodeAgent.register(input("n1"));
    expect(await outcome(api.caller(null).nodeAgent.register(input("n1", "http://203.0.113.66:4100")))).toMatch(/^CONFLICT: A node named "n1" is already registered\. Only that node can register again/);
    const node = await api.db.node.findUniqueOrThrow({ where: { name: "n1" } });
    expect(node).toMatchObject({ id: first.nodeId, apiUrl: "http://127.0.0.1:1" });
    expect(await outcome(sync(first))).toBe("ok");
  });

  it("refuses another node's credentials, a wrong secret, and unknown node ids", async () => {
    const a = await api.caller(null).nodeAgent.register(input("n2"));
    const b = await api.caller(null).nodeAgent.register(input("n3"));
    for (const creds of [b, { nodeId: a.nodeId, secret: "x".repeat(43) }, { nodeId: "nosuchnode", secret: a.secret }]) {
      expect(await outcome(api.caller(null, bearer(creds)).nodeAgent.register(input("n2", "http://203.0.113.66:4100")))).toMatch(/^CONFLICT: A node named "n2"/);
    }
    expect(await outcome(sync(a))).toBe("ok");
  });

  it("lets the node itself register again with its current credentials: same id, new secret, the old one void", async () => {
    const first = await api.caller(null).nodeAgent.register(input("n4"));
    const again = await api.caller(null, bearer(first)).nodeAgent.register(input("n4", "http://127.0.0.1:2"));
    expect(again.nodeId).toBe(first.nodeId);
    expect(again.secret).not.toBe(first.secret);
    expect(await api.db.node.findUniqueOrThrow({ where: { id: first.nodeId } })).toMatchObject({ apiUrl: "http://127.0.0.1:2" });
    expect(await outcome(sync(again))).toBe("ok");
    expect(await outcome(sync(first))).toMatch(/^UNAUTHORIZED: Unknown node or wrong secret/);
    // The superseded secret cannot be used to register either.
    expect(await outcome(api.caller(null, bearer(first)).nodeAgent.register(input("n4")))).toMatch(/^CONFLICT/);
  });

  it("lets the node itself register again on its credentials alone (a one-time token is spent at its first join), and no one else without a token", async () => {
    const first = await api.caller(null).nodeAgent.register(input("n5"));
    const again = await api.caller(null, bearer(first)).nodeAgent.register({ ...input("n5"), joinToken: "wrong-join-token-000000" });
    expect(again.nodeId).toBe(first.nodeId);
    expect(await outcome(api.caller(null).nodeAgent.register({ ...input("n6"), joinToken: "wrong-join-token-000000" }))).toBe("UNAUTHORIZED: Invalid join token");
    // A wrong token for a name that exists says nothing of the name.
    expect(await outcome(api.caller(null).nodeAgent.register({ ...input("n5"), joinToken: "wrong-join-token-000000" }))).toBe("UNAUTHORIZED: Invalid join token");
  });
});
