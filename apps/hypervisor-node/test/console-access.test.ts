// nodeAgent.consoleAccess, read by the gateway's ConsoleAccessTable: what a node checks console
// tokens against. It must agree with who the portal lets open a console (open-console.ts via
// visibleVms), and change when access does. A real API on both databases.
import { describe, it, expect, beforeAll, afterAll } from "vitest";
import { TRPCError } from "@trpc/server";
import { openTestApi, providers, type TestApi } from "@vdi/api/testing";
import { seed, type Actor } from "@vdi/api";
import { ConsoleAccessTable } from "../src/gateway/console-access.ts";

const caps = { engines: { qemu: { available: true, version: "7.2", accel: "tcg" } }, images: ["debian-shell"] };
const template = { name: "debian-shell", title: "Debian shell", engine: "qemu" as const, defaultMemoryMiB: 256, minMemoryMiB: 128, maxMemoryMiB: 1024, defaultCpus: 1, maxCpus: 2, diskSizeGiB: 1 };

describe.each(providers)("node console access on %s", (provider) => {
  let api: TestApi;
  let node: ReturnType<TestApi["caller"]>;
  let alice: Actor, bob: Actor, boss: Actor, eve: Actor;
  let aliceVm: string, bobVm: string;

  beforeAll(async () => {
    api = await openTestApi(provider);
    await seed(api.deps, { admin: { email: "admin@x.test", password: "admin-password" }, demo: { email: "demo@x.test", password: "demo-password" }, templates: [template] });
    // One after the other: concurrent upserts of one tenant race on PostgreSQL.
    alice = await api.makeUser("acme");
    bob = await api.makeUser("acme");
    boss = await api.makeUser("acme", "tenant_admin");
    eve = await api.makeUser("other");
    const reg = await api.caller(null).nodeAgent.register({ joinToken: "test-join-token-0123456789", name: "n1", apiUrl: "http://127.0.0.1:1", consoleUrl: "ws://127.0.0.1:1", totalCpus: 8, totalMemoryMiB: 65536, capabilities: caps });
    node = api.caller(null, new Headers({ authorization: `Bearer node.${reg.nodeId}.${reg.secret}` }));
    const templateId = (await api.caller(alice).template.list())[0]!.id;
    aliceVm = (await api.caller(alice).vm.create({ templateId, name: "alice-vm" })).vmId;
    bobVm = (await api.caller(bob).vm.create({ templateId, name: "bob-vm" })).vmId;
  });
  afterAll(async () => api?.close());

  /** The gateway's verdicts from what the portal answers now. */
  async function verdicts() {
    const table = new ConsoleAccessTable();
    table.replace(await node.nodeAgent.consoleAccess());
    const who = { alice, bob, boss, eve };
    return Object.fromEntries([aliceVm, bobVm].map((vm) => [vm === aliceVm ? "aliceVm" : "bobVm",
      Object.fromEntries(Object.entries(who).map(([name, a]) => [name, table.verdict(vm, a.userId)]))]));
  }

  it("lists each VM's tenant, owner and sharing, and the tenants' active people, for the node's gateway", async () => {
    const access = await node.nodeAgent.consoleAccess();
    expect(access.vms).toEqual(expect.arrayContaining([
      { id: aliceVm, tenant: alice.tenantId, owner: alice.userId, shared: false },
      { id: bobVm, tenant: bob.tenantId, owner: bob.userId, shared: false },
    ]));
    const acme = access.tenants.find((t) => t.id === alice.tenantId)!;
    expect(acme.admins).toContain(boss.userId);
    expect(acme.users).toEqual(expect.arrayContaining([alice.userId, bob.userId]));
    expect(access.tenants.find((t) => t.id === eve.tenantId)).toBeUndefined();  // no VM of theirs here
  });

  it("gives the same answer as the portal's own rule: owner and tenant admins; the tenant's users once shared; never another tenant", async () => {
    expect(await verdicts()).toEqual({
      aliceVm: { alice: "allowed", bob: "denied", boss: "allowed", eve: "denied" },
      bobVm: { alice: "denied", bob: "allowed", boss: "allowed", eve: "denied" },
    });
    await api.caller(bob).vm.share({ vmId: bobVm, shared: true });
    expect((await verdicts()).bobVm!).toEqual({ alice: "allowed", bob: "allowed", boss: "allowed", eve: "denied" });
    await api.caller(bob).vm.share({ vmId: bobVm, shared: false });
    expect((await verdicts()).bobVm!.alice).toBe("denied");
  });

  it("drops disabled people and demoted admins", async () => {
    await api.db.user.update({ where: { id: boss.userId }, data: { role: "user" } });
    expect((await verdicts()).aliceVm!.boss).toBe("denied");
    await api.db.user.update({ where: { id: boss.userId }, data: { role: "tenant_admin" } });
    await api.db.user.update({ where: { id: alice.userId }, data: { disabledAt: new Date() } });
    expect((await verdicts()).aliceVm!.alice).toBe("denied");
    await api.db.user.update({ where: { id: alice.userId }, data: { disabledAt: null } });
  });

  it("answers only a node, with its own VMs", async () => {
    await expect(api.caller(alice).nodeAgent.consoleAccess()).rejects.toThrow(TRPCError);
    const reg2 = await api.caller(null).nodeAgent.register({ joinToken: "test-join-token-0123456789", name: "n2", apiUrl: "http://127.0.0.1:2", consoleUrl: "ws://127.0.0.1:2", totalCpus: 8, totalMemoryMiB: 65536, capabilities: caps });
    const n2 = api.caller(null, new Headers({ authorization: `Bearer node.${reg2.nodeId}.${reg2.secret}` }));
    const placed = await api.db.vm.findMany({ where: { nodeId: reg2.nodeId }, select: { id: true } });
    expect((await n2.nodeAgent.consoleAccess()).vms.map((v) => v.id).sort()).toEqual(placed.map((v) => v.id).sort());
  });
});
