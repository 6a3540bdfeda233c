// Platform administrators' nodes and templates: tenants see only a node's health and engines;
// admins list everything, drain a node (placement skips it, its VMs keep working), remove an empty
// one, move a template between tenants, and retire one (no new VMs; its VMs keep working). Tenant
// admins' member limits show on the members list.
import { describe, it, expect, beforeAll, afterAll } from "vitest";
import { TRPCError } from "@trpc/server";
import { openTestApi, providers, type TestApi } from "./harness.ts";
import { seed, type Actor } from "../src/index.ts";

const caps = { engines: { qemu: { available: true, version: "7.2", accel: "tcg" } }, images: ["debian-shell"] };
const template = { name: "debian-shell", title: "Debian shell", engine: "qemu" as const, defaultMemoryMiB: 256, minMemoryMiB: 128, maxMemoryMiB: 1024, defaultCpus: 1, maxCpus: 2, diskSizeGiB: 1 };

async function code(p: Promise<unknown>): Promise<string> {
  try { await p; } catch (e) { return e instanceof TRPCError ? `${e.code}: ${e.message}` : `other: ${String(e)}`; }
  return "ok";
}

describe.each(providers)("platform administration on %s", (provider) => {
  let api: TestApi;
  let platform: Actor;
  let alice: Actor;
  let boss: Actor;
  let bob: Actor;
  let templateId: string;
  const nodes: Record<string, { id: string; caller: ReturnType<TestApi["caller"]> }> = {};

  beforeAll(async () => {
    api = await openTestApi(provider);
    await seed(api.deps, { admin: { email: "admin@x.test", password: "admin-password" }, demo: { email: "demo@x.test", password: "demo-password" }, templates: [template] });
    platform = await api.makeUser("platform", "admin");
    alice = await api.makeUser("acme", "user");
    boss = await api.makeUser("acme", "tenant_admin");
    bob = await api.makeUser("other", "user");
    templateId = (await api.caller(alice).template.list())[0]!.id;
    // n1 has the most memory: placement picks it unless it is drained.
    for (const [name, mem] of [["n1", 65536], ["n2", 32768]] as const) {
      const reg = await api.caller(null).nodeAgent.register({ joinToken: "test-join-token-0123456789", name, apiUrl: `http://10.0.0.${mem % 7}:4100`, consoleUrl: "ws://127.0.0.1:1", totalCpus: 8, totalMemoryMiB: mem, capabilities: caps });
      nodes[name] = { id: reg.nodeId, caller: api.caller(null, new Headers({ authorization: `Bearer node.${reg.nodeId}.${reg.secret}` })) };
    }
  });
  afterAll(async () => api?.close());

  async function settleVm(nodeName: string, vmId: string, state: "running" | "stopped") {
    const row = await api.db.vm.findUniqueOrThrow({ where: { id: vmId } });
    await nodes[nodeName]!.caller.nodeAgent.sync({ vms: [{ id: vmId, state, op: { id: row.lastOpId!, status: "succeeded", progress: 100 } }] });
  }
  const nodeOf = async (vmId: string) => (await api.db.vm.findUniqueOrThrow({ where: { id: vmId }, include: { node: true } })).node.name;

  it("shows tenants a node's name, health and engines only; platform admins everything", async () => {
    const seen = await api.caller(alice).node.list();
    expect(seen.map((n) => n.name)).toEqual(["n1", "n2"]);
    for (const n of seen) {
      expect(Object.keys(n).sort()).toEqual(["engines", "id", "lastSeen", "name", "up"]);
      expect(n.engines).toEqual({ qemu: { available: true } });
    }
    expect(JSON.stringify(seen)).not.toMatch(/10\.0\.0\.|4100|65536|tcg|7\.2/);
    const all = await api.caller(platform).node.listAll();
    expect(all.find((n) => n.name === "n1")).toMatchObject({ up: true, drained: false, totalMemoryMiB: 65536, vms: 0, capabilities: { engines: { qemu: { version: "7.2" } } } });
    expect(all.find((n) => n.name === "n1")!.apiUrl).toMatch(/^http:\/\/10\.0\.0\./);
  });

  it("drains a node: placement skips it, its VMs keep working, clones of them are refused; undrained it takes VMs again", async () => {
    const first = await api.caller(alice).vm.create({ templateId, name: "on-n1" });
    expect(await nodeOf(first.vmId)).toBe("n1");
    await settleVm("n1", first.vmId, "running");
    await api.caller(platform).node.setDrained({ nodeId: nodes.n1!.id, drained: true });
    expect((await api.caller(platform).node.listAll()).find((n) => n.name === "n1")).toMatchObject({ drained: true, vms: 1, usedMemoryMiB: 256 });
    for (let i = 0; i < 3; i++) {
      const vm = await api.caller(alice).vm.create({ templateId, name: `placed-${i}` });
      expect(await nodeOf(vm.vmId)).toBe("n2");
    }
    // The drained node's VM still stops (and so on): draining is about new VMs.
    expect(await code(api.caller(alice).vm.stop({ vmId: first.vmId }))).toBe("ok");
    await settleVm("n1", first.vmId, "stopped");
    expect(await code(api.caller(alice).vm.clone({ vmId: first.vmId, name: "clone-on-n1", mode: "full" }))).toMatch(/^SERVICE_UNAVAILABLE: Node n1 is drained/);
    await api.caller(platform).node.setDrained({ nodeId: nodes.n2!.id, drained: true });
    expect(await code(api.caller(alice).vm.create({ templateId, name: "nowhere" }))).toMatch(/^SERVICE_UNAVAILABLE: Every hypervisor node is drained/);
    await api.caller(platform).node.setDrained({ nodeId: nodes.n1!.id, drained: false });
    await api.caller(platform).node.setDrained({ nodeId: nodes.n2!.id, drained: false });
    expect(await code(api.caller(alice).vm.clone({ vmId: first.vmId, name: "clone-on-n1", mode: "full" }))).toBe("ok");
    expect(await nodeOf((await api.caller(alice).vm.create({ templateId, name: "back-on-n1" })).vmId)).toBe("n1");
  });

  it("removes only a node nothing lives on; its credentials stop working", async () => {
    expect(await code(api.caller(platform).node.remove({ nodeId: nodes.n2!.id }))).toMatch(/^PRECONDITION_FAILED: Node n2 still has 3 VMs/);
    const spare = await api.caller(null).nodeAgent.register({ joinToken: "test-join-token-0123456789", name: "n3", apiUrl: "http://127.0.0.1:1", consoleUrl: "ws://127.0.0.1:1", totalCpus: 1, totalMemoryMiB: 1024, capabilities: caps });
    // A template whose image lives only on n3 keeps it until the template is retired.
    const tpl = await api.db.template.create({ data: { slug: "only-on-n3", title: "Only on n3", image: "tpl-x", nodeId: spare.nodeId } });
    expect(await code(api.caller(platform).node.remove({ nodeId: spare.nodeId }))).toMatch(/^PRECONDITION_FAILED: Templates "Only on n3" have their image only on n3/);
    await api.caller(platform).template.setRetired({ templateId: tpl.id, retired: true });
    expect(await api.caller(platform).node.remove({ nodeId: spare.nodeId })).toEqual({ nodeId: spare.nodeId });
    expect((await api.caller(platform).node.listAll()).map((n) => n.name)).toEqual(["n1", "n2"]);
    const gone = api.caller(null, new Headers({ authorization: `Bearer node.${spare.nodeId}.${spare.secret}` }));
    expect(await code(gone.nodeAgent.sync({ vms: [] }))).toMatch(/^UNAUTHORIZED/);
    expect(await code(api.caller(platform).node.remove({ nodeId: spare.nodeId }))).toMatch(/^NOT_FOUND/);

    // A node that died with a delete it never confirmed: while it is up that VM counts; once it is
    // down, it goes with the node (a live VM still blocks).
    const dead = await api.caller(null).nodeAgent.register({ joinToken: "test-join-token-0123456789", name: "n4", apiUrl: "http://127.0.0.1:1", consoleUrl: "ws://127.0.0.1:1", totalCpus: 1, totalMemoryMiB: 1024, capabilities: caps });
    const row = (name: string, desiredState: string) => api.db.vm.create({ data: { name, tenantId: alice.tenantId, ownerId: alice.userId, templateId, nodeId: dead.nodeId, cpus: 1, memoryMiB: 256, diskGiB: 1, macAddress: "52:54:00:00:00:04", desiredState, actualState: "deleting" } });
    await row("never-confirmed", "deleted");
    expect(await code(api.caller(platform).node.remove({ nodeId: dead.nodeId }))).toMatch(/^PRECONDITION_FAILED: Node n4 still has 1 VM/);
    await api.db.node.update({ where: { id: dead.nodeId }, data: { lastSeenAt: new Date(Date.now() - 3_600_000) } });
    const live = await row("still-wanted", "running");
    expect(await code(api.caller(platform).node.remove({ nodeId: dead.nodeId }))).toMatch(/^PRECONDITION_FAILED: Node n4 still has 1 VM/);
    await api.db.vm.delete({ where: { id: live.id } });
    expect(await api.caller(platform).node.remove({ nodeId: dead.nodeId })).toEqual({ nodeId: dead.nodeId });
  });

  it("lists every template, moves one between tenants and back to everyone", async () => {
    const own = await api.db.template.create({ data: { slug: "acme-only", title: "Acme only", image: "debian-shell", tenantId: alice.tenantId } });
    const titles = async (who: Actor) => (await api.caller(who).template.list()).map((t) => t.title);
    expect(await titles(alice)).toContain("Acme only");
    expect(await titles(bob)).not.toContain("Acme only");
    expect((await api.caller(platform).template.listAll()).find((t) => t.id === own.id)).toMatchObject({ tenant: { slug: "acme" }, retired: false, vms: 0 });
    await api.caller(platform).template.setVisibility({ templateId: own.id, tenantId: bob.tenantId });
    expect(await titles(alice)).not.toContain("Acme only");
    expect(await titles(bob)).toContain("Acme only");
    expect(await code(api.caller(alice).vm.create({ templateId: own.id, name: "from-moved" }))).toMatch(/^NOT_FOUND: Template not found/);
    await api.caller(platform).template.setVisibility({ templateId: own.id, tenantId: null });
    expect(await titles(alice)).toContain("Acme only");
    expect(await code(api.caller(platform).template.setVisibility({ templateId: own.id, tenantId: "nosuchtenant" }))).toMatch(/^NOT_FOUND: Tenant not found/);
  });

  it("retires a template: no new VMs from it, while its VMs keep working (resize, clone); brought back, it offers VMs again", async () => {
    const vm = await api.caller(alice).vm.create({ templateId, name: "before-retire" });
    await settleVm(await nodeOf(vm.vmId), vm.vmId, "stopped");
    await api.caller(platform).template.setRetired({ templateId, retired: true });
    expect((await api.caller(alice).template.list()).map((t) => t.id)).not.toContain(templateId);
    expect((await api.caller(platform).template.listAll()).find((t) => t.id === templateId)).toMatchObject({ retired: true });
    expect(await code(api.caller(alice).vm.create({ templateId, name: "after-retire" }))).toMatch(/^PRECONDITION_FAILED: Template "Debian shell" is retired/);
    expect(await code(api.caller(alice).vm.resize({ vmId: vm.vmId, cpus: 2 }))).toBe("ok");
    await settleVm(await nodeOf(vm.vmId), vm.vmId, "stopped");
    expect(await code(api.caller(alice).vm.clone({ vmId: vm.vmId, name: "clone-of-retired", mode: "full" }))).toBe("ok");
    await api.caller(platform).template.setRetired({ templateId, retired: false });
    expect(await code(api.caller(alice).vm.create({ templateId, name: "after-unretire" }))).toBe("ok");
  });

  it("shows each member's limits and use to the tenant admin; a tenant admin cannot limit a platform admin", async () => {
    await api.caller(boss).tenant.setMemberLimits({ userId: alice.userId, vms: 20, diskGiB: 50 });
    const row = (await api.caller(boss).tenant.members({})).find((m) => m.id === alice.userId)!;
    expect(row.limits).toEqual({ vms: 20, vcpus: null, memoryMiB: null, diskGiB: 50 });
    expect(row.used.vms).toBe(await api.db.vm.count({ where: { ownerId: alice.userId } }));
    // Only given fields change; null lifts one.
    await api.caller(boss).tenant.setMemberLimits({ userId: alice.userId, diskGiB: null });
    expect((await api.caller(alice).tenant.usage()).member.limits).toEqual({ vms: 20, vcpus: null, memoryMiB: null, diskGiB: null });
    expect(await code(api.caller(boss).tenant.setMemberLimits({ userId: alice.userId, vms: -1 }))).toMatch(/^BAD_REQUEST/);
    expect(await code(api.caller(boss).tenant.setMemberLimits({ userId: platform.userId, vms: 1 }))).toMatch(/^(NOT_FOUND|FORBIDDEN)/);
    expect(await code(api.caller(alice).tenant.setMemberLimits({ userId: alice.userId, vms: 100 }))).toMatch(/^FORBIDDEN: Tenant administrators only/);
  });
});
