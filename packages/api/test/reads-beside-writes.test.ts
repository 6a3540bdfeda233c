// Under load on SQLite the portal has one writing connection, held by each mutation's transaction
// from BEGIN to COMMIT. Reads (vm.list, node.list) must not wait for it, and a node whose sync is
// queued behind it must count as heard from the moment its request arrived (issue 10, defect 7).
import { describe, it, expect, beforeAll, afterAll } from "vitest";
import { openTestApi, providers, type TestApi } from "./harness.ts";
import type { Actor } from "../src/index.ts";

const JOIN = "test-join-token-0123456789";
const caps = { engines: { qemu: { available: true, version: "7.2", accel: "tcg" } }, images: [] };
const HOLD_MS = 1_500;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function timed<T>(p: Promise<T>): Promise<{ value: T; ms: number }> {
  const t0 = performance.now();
  const value = await p;
  return { value, ms: performance.now() - t0 };
}

describe.each(providers)("reads beside an open write transaction on %s", (provider) => {
  let api: TestApi;
  let actor: Actor;
  let node: { nodeId: string; secret: string };
  beforeAll(async () => {
    api = await openTestApi(provider);
    actor = await api.makeUser("rbw", "tenant_admin");
    node = await api.caller(null).nodeAgent.register({ joinToken: JOIN, name: "rbw-node", apiUrl: "http://127.0.0.1:1", consoleUrl: "ws://127.0.0.1:1", totalCpus: 2, totalMemoryMiB: 4096, capabilities: caps });
  });
  afterAll(async () => api?.close());

  /** A mutation's transaction that has written and keeps the writing connection for HOLD_MS. */
  function holdWriter(): Promise<void> {
    return api.db.$transaction(async (tx) => {
      await tx.tenant.update({ where: { id: actor.tenantId }, data: { name: "held" } });
      await sleep(HOLD_MS);
    }, { timeout: 10_000 });
  }

  it("answers vm.list and node.list while a transaction holds the writer, from committed data", async () => {
    const held = holdWriter();
    await sleep(100);
    const list = await timed(api.caller(actor).vm.list());
    const nodes = await timed(api.caller(actor).node.list());
    const tenant = await timed(api.db.tenant.findUniqueOrThrow({ where: { id: actor.tenantId } }));
    await held;
    expect(list.value).toEqual([]);
    expect(list.ms).toBeLessThan(HOLD_MS / 2);
    expect(nodes.ms).toBeLessThan(HOLD_MS / 2);
    expect(tenant.ms).toBeLessThan(HOLD_MS / 2);
    expect(tenant.value.name).not.toBe("held");  // not the open transaction's write
    expect((await api.db.tenant.findUniqueOrThrow({ where: { id: actor.tenantId } })).name).toBe("held");
  });

  it("counts a node as heard when its sync arrives, though the sync's own write waits for the writer", async () => {
    await api.db.node.update({ where: { id: node.nodeId }, data: { lastSeenAt: new Date(Date.now() - 3_600_000) } });
    expect((await api.caller(actor).node.list()).find((n) => n.id === node.nodeId)?.up).toBe(false);
    const held = holdWriter();
    await sleep(100);
    const sync = api.caller(null, new Headers({ authorization: `Bearer node.${node.nodeId}.${node.secret}` })).nodeAgent.sync({ vms: [] });
    await sleep(200);
    const seen = await timed(api.caller(actor).node.list());
    expect(seen.ms).toBeLessThan(HOLD_MS / 2);
    expect(seen.value.find((n) => n.id === node.nodeId)).toMatchObject({ up: true, lastSeen: expect.stringMatching(/last seen [01] s ago/) });
    await Promise.all([held, sync]);
  });
});
