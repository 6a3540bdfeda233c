// The sync reply tells nodes which users lost access lately (disabled in the last 24 h), so the
// console gateway closes their open consoles and refuses new ones.
import { describe, it, expect, beforeAll, afterAll } from "vitest";
import { openTestApi, providers, type TestApi } from "./harness.ts";
import type { Actor } from "../src/index.ts";
import { REVOKED_USERS_WINDOW_MS } from "../src/services/node/sync-node.ts";

const caps = { engines: { qemu: { available: true, version: "7.2", accel: "tcg" } }, images: [] };

describe.each(providers)("sync: revoked users on %s", (provider) => {
  let api: TestApi;
  let agent: ReturnType<TestApi["caller"]>;
  let active: Actor, disabledNow: Actor, disabledLongAgo: Actor;

  beforeAll(async () => {
    api = await openTestApi(provider);
    // One after the other: two concurrent upserts of the same tenant race on PostgreSQL.
    active = await api.makeUser("acme");
    disabledNow = await api.makeUser("acme");
    disabledLongAgo = await api.makeUser("other");
    const reg = await api.caller(null).nodeAgent.register({
      joinToken: "test-join-token-0123456789", name: "n1", apiUrl: "http://127.0.0.1:1", consoleUrl: "ws://127.0.0.1:1",
      totalCpus: 2, totalMemoryMiB: 4096, capabilities: caps,
    });
    agent = api.caller(null, new Headers({ authorization: `Bearer node.${reg.nodeId}.${reg.secret}` }));
  });
  afterAll(async () => {
    await api?.close();
  });

  it("lists users disabled within the window, not older ones nor active ones", async () => {
    expect((await agent.nodeAgent.sync({ vms: [] })).revokedUsers).toEqual([]);
    await api.db.user.update({ where: { id: disabledNow.userId }, data: { disabledAt: new Date() } });
    await api.db.user.update({ where: { id: disabledLongAgo.userId }, data: { disabledAt: new Date(Date.now() - REVOKED_USERS_WINDOW_MS - 60_000) } });
    const { revokedUsers } = await agent.nodeAgent.sync({ vms: [] });
    expect(revokedUsers).toEqual([disabledNow.userId]);
    expect(revokedUsers).not.toContain(active.userId);
  });
});
