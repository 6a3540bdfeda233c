// Quotas under concurrency: N creates at the quota's edge at the same time; exactly the allowed
// number succeed, the others get a clear quota error (not a database error), on both databases.
import { describe, it, expect, beforeAll, afterAll } from "vitest";
import { TRPCError } from "@trpc/server";
import { openTestApi, providers, type TestApi } from "./harness.ts";
import { seed, type Actor } from "../src/index.ts";

const caps = { engines: { qemu: { available: true, version: "7.2", accel: "tcg" } }, images: ["debian-shell"] };
const template = { name: "debian-shell", title: "Debian shell", engine: "qemu" as const, defaultMemoryMiB: 256, minMemoryMiB: 128, maxMemoryMiB: 1024, defaultCpus: 1, maxCpus: 2, diskSizeGiB: 1 };

describe.each(providers)("quota races on %s", (provider) => {
  let api: TestApi;
  let carol: Actor;
  let templateId: string;
  let node: ReturnType<TestApi["caller"]>;

  beforeAll(async () => {
    api = await openTestApi(provider);
    await seed(api.deps, { admin: { email: "admin@x.test", password: "admin-password" }, demo: { email: "demo@x.test", password: "demo-password" }, templates: [template] });
    carol = await api.makeUser("racy", "tenant_admin");
    templateId = (await api.caller(carol).template.list())[0]!.id;
    const reg = await api.caller(null).nodeAgent.register({ joinToken: "test-join-token-0123456789", name: "n1", apiUrl: "http://127.0.0.1:1", consoleUrl: "ws://127.0.0.1:1", totalCpus: 64, totalMemoryMiB: 1 << 20, capabilities: caps });
    node = api.caller(null, new Headers({ authorization: `Bearer node.${reg.nodeId}.${reg.secret}` }));
  });
  afterAll(async () => api?.close());

  const settle = async (ps: Promise<unknown>[]) => (await Promise.allSettled(ps)).map((r) =>
    r.status === "fulfilled" ? "ok" : r.reason instanceof TRPCError ? `${r.reason.code}: ${r.reason.message}` : `other: ${String(r.reason)}`);

  it("lets exactly the quota's VMs through when 8 creates race for the last 3 places", async () => {
    await api.db.tenant.update({ where: { id: carol.tenantId }, data: { maxVms: 3 } });
    const results = await settle(Array.from({ length: 8 }, (_, i) => api.caller(carol).vm.create({ templateId, name: `race-${i}` })));
    expect(results.filter((r) => r === "ok")).toHaveLength(3);
    for (const r of results.filter((x) => x !== "ok")) expect(r).toMatch(/^FORBIDDEN: Quota reached: at most 3 VMs/);
    expect(await api.db.vm.count({ where: { tenantId: carol.tenantId } })).toBe(3);
  });

  it("lets one of two same-name creates through, the other gets a clear conflict", async () => {
    await api.db.tenant.update({ where: { id: carol.tenantId }, data: { maxVms: 10 } });
    const results = await settle([api.caller(carol).vm.create({ templateId, name: "twin" }), api.caller(carol).vm.create({ templateId, name: "twin" })]);
    expect(results.filter((r) => r === "ok")).toHaveLength(1);
    expect(results.find((r) => r !== "ok")).toMatch(/^CONFLICT: A VM named "twin" already exists/);
  });

  it("counts vCPUs atomically too", async () => {
    const used = (await api.caller(carol).tenant.usage()).used.vcpus;
    await api.db.tenant.update({ where: { id: carol.tenantId }, data: { maxVcpus: used + 4, maxVms: 100 } });
    const results = await settle(Array.from({ length: 6 }, (_, i) => api.caller(carol).vm.create({ templateId, name: `cpu-${i}`, cpus: 2 })));
    expect(results.filter((r) => r === "ok")).toHaveLength(2);
    for (const r of results.filter((x) => x !== "ok")) expect(r).toMatch(/^FORBIDDEN: Quota reached: \d+ vCPUs in all/);
    const usage = await api.caller(carol).tenant.usage();
    expect(usage.used.vcpus).toBe(used + 4);
    expect(usage.limits.vcpus).toBe(used + 4);
  });

  it("lets exactly the snapshot quota through under concurrency", async () => {
    const vm = (await api.caller(carol).vm.list())[0]!;
    const op = await api.db.vm.findUniqueOrThrow({ where: { id: vm.id } });
    await node.nodeAgent.sync({ vms: [{ id: vm.id, state: "running", op: { id: op.lastOpId!, status: "succeeded", progress: 100 } }] });
    await api.db.tenant.update({ where: { id: carol.tenantId }, data: { maxSnapshots: 1 } });
    // Snapshots of several VMs at once (one VM allows one operation at a time).
    const vms = (await api.caller(carol).vm.list()).slice(0, 4);
    for (const v of vms) {
      const row = await api.db.vm.findUniqueOrThrow({ where: { id: v.id } });
      await node.nodeAgent.sync({ vms: [{ id: v.id, state: "running", op: { id: row.lastOpId!, status: "succeeded", progress: 100 } }] });
    }
    const results = await settle(vms.map((v, i) => api.caller(carol).snapshot.create({ vmId: v.id, name: `snap-${i}` })));
    expect(results.filter((r) => r === "ok")).toHaveLength(1);
    for (const r of results.filter((x) => x !== "ok")) expect(r).toMatch(/^FORBIDDEN: Quota reached: at most 1 snapshots/);
  });
});
