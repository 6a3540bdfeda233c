// A tenant with 5,000 VMs on one node, and a node shared by 1,000 tenants: every read that used to
// put one query parameter per row (SQLite's driver allows ~999: P2029) works page by page or bounded.
import { describe, it, expect, beforeAll, afterAll } from "vitest";
import { openTestApi, providers, serveApi, type TestApi } from "./harness.ts";
import { seed, type Actor } from "../src/index.ts";

const VMS = 5_000;
const OTHER_TENANTS = 1_000;
const caps = { engines: { qemu: { available: true, version: "7.2", accel: "tcg" } }, images: ["debian-shell"] };
const template = { name: "debian-shell", title: "Debian shell", engine: "qemu" as const, defaultMemoryMiB: 256, minMemoryMiB: 128, maxMemoryMiB: 1024, defaultCpus: 1, maxCpus: 2, diskSizeGiB: 1 };

/** Bulk inserts in slices (each statement stays far below any parameter limit). */
async function inSlices<T>(rows: T[], insert: (slice: T[]) => Promise<unknown>, size = 50) {
  for (let i = 0; i < rows.length; i += size) await insert(rows.slice(i, i + size));
}

describe.each(providers)("vm list, desired set and console access at scale on %s", (provider) => {
  let api: TestApi;
  let admin: Actor;
  let member: Actor;
  let agent: ReturnType<TestApi["caller"]>;
  let nodeId: string;
  const base = Date.UTC(2026, 0, 1);

  beforeAll(async () => {
    api = await openTestApi(provider);
    await seed(api.deps, { admin: { email: "admin@x.test", password: "admin-password" }, demo: { email: "demo@x.test", password: "demo-password" }, templates: [template] });
    admin = await api.makeUser("big", "tenant_admin");
    member = await api.makeUser("big", "user");
    const templateId = (await api.db.template.findFirstOrThrow()).id;
    const reg = await api.caller(null).nodeAgent.register({
      joinToken: "test-join-token-0123456789", name: "n1", apiUrl: "http://127.0.0.1:1", consoleUrl: "ws://127.0.0.1:1",
      totalCpus: 64, totalMemoryMiB: 4 * 1024 * 1024, capabilities: caps,
    });
    nodeId = reg.nodeId;
    agent = api.caller(null, new Headers({ authorization: `Bearer node.${reg.nodeId}.${reg.secret}` }));
    // Three VMs share each creation instant: the cursor must order ties by id, not skip or repeat them.
    const vm = (i: number, tenantId: string, ownerId: string) => ({
      id: `vm${String(i).padStart(5, "0")}`, name: `vm-${i}`, tenantId, ownerId, templateId, nodeId,
      cpus: 1, memoryMiB: 256, diskGiB: 1, macAddress: `52:54:00:00:${(i >> 8).toString(16).padStart(2, "0")}:${(i & 255).toString(16).padStart(2, "0")}`,
      actualState: "running", lastOpId: `op${i}`, lastOpKind: "create", createdAt: new Date(base + Math.floor(i / 3)),
      // Every tenth VM is the member's own, every seventh shared: the member sees a filtered list.
      shared: i % 7 === 0,
    });
    const vms = Array.from({ length: VMS }, (_, i) => vm(i, admin.tenantId, i % 10 === 0 ? member.userId : admin.userId));
    await inSlices(vms, (data) => api.db.vm.createMany({ data }));
    // Two operations per VM: an old finished one and the latest (its lastOpId), still running.
    const ops = vms.flatMap((v, i) => [
      { id: `old${i}`, kind: "create", status: "succeeded", progress: 100, vmId: v.id, vmName: v.name, tenantId: v.tenantId, nodeId, createdAt: new Date(base) },
      { id: `op${i}`, kind: "create", status: "running", progress: i % 100, vmId: v.id, vmName: v.name, tenantId: v.tenantId, nodeId, createdAt: new Date(base + 1 + i) },
    ]);
    await inSlices(ops, (data) => api.db.operation.createMany({ data }));
    // A node shared by many tenants: one VM (and one user) each.
    const tenants = Array.from({ length: OTHER_TENANTS }, (_, i) => ({ id: `t${i}`, slug: `t-${i}`, name: `Tenant ${i}` }));
    await inSlices(tenants, (data) => api.db.tenant.createMany({ data }));
    const users = tenants.map((t, i) => ({ id: `u${i}`, name: `u${i}`, email: `u${i}@t.test`, tenantId: t.id, role: "user" }));
    await inSlices(users, (data) => api.db.user.createMany({ data }));
    await inSlices(tenants.map((t, i) => vm(VMS + i, t.id, `u${i}`)), (data) => api.db.vm.createMany({ data }));
    // The seeding outlasts the node's down threshold on a busy machine: it has just been heard from.
    await api.db.node.update({ where: { id: nodeId }, data: { lastSeenAt: new Date() } });
  }, 120_000);
  afterAll(async () => api?.close());

  it("lists a tenant's 5,000 VMs page by page, newest first, each with its latest operation", async () => {
    const caller = api.caller(admin);
    const seen: string[] = [];
    let cursor: string | undefined;
    let pages = 0;
    const t0 = Date.now();
    for (;;) {
      const page = await caller.vm.list({ cursor, limit: 500 });
      pages++;
      expect(page.length).toBeLessThanOrEqual(500);
      seen.push(...page.map((v) => v.id));
      if (page.length < 500) break;
      cursor = page.at(-1)!.cursor;
    }
    const perPageMs = (Date.now() - t0) / pages;
    console.log(`[scale] ${provider}: ${VMS} VMs listed in ${pages} pages of 500, ${perPageMs.toFixed(0)} ms per page`);
    expect(seen).toHaveLength(VMS);
    expect(new Set(seen).size).toBe(VMS);
    // Newest first; ties (same createdAt) by id, descending.
    expect(seen).toEqual(Array.from({ length: VMS }, (_, i) => `vm${String(VMS - 1 - i).padStart(5, "0")}`));
    const first = await caller.vm.list();
    expect(first.length).toBeGreaterThan(0);
    expect(first.length).toBeLessThanOrEqual(100);
    expect(first[0]).toMatchObject({ id: "vm04999", operation: { id: "op4999", status: "running", progress: 99 }, node: { id: nodeId, up: true }, template: { title: "Debian shell" } });
  });

  it("pages backwards from a cursor to the page before it", async () => {
    const caller = api.caller(admin);
    const p1 = await caller.vm.list({ limit: 7 });
    const p2 = await caller.vm.list({ limit: 7, cursor: p1.at(-1)!.cursor });
    const p3 = await caller.vm.list({ limit: 7, cursor: p2.at(-1)!.cursor });
    expect(await caller.vm.list({ limit: 7, cursor: p3[0]!.cursor, direction: "before" })).toEqual(p2);
    expect(await caller.vm.list({ limit: 7, cursor: p2[0]!.cursor, direction: "before" })).toEqual(p1);
    expect(await caller.vm.list({ limit: 7, cursor: p1[0]!.cursor, direction: "before" })).toEqual([]);
    // A cursor survives its VM's deletion: it names a position, not a row.
    await api.db.operation.deleteMany({ where: { vmId: p1.at(-1)!.id } });
    await api.db.vm.delete({ where: { id: p1.at(-1)!.id } });
    expect(await caller.vm.list({ limit: 7, cursor: p1.at(-1)!.cursor })).toEqual(p2);
  });

  it("pages a member's filtered view (own and shared VMs) the same way", async () => {
    const caller = api.caller(member);
    const seen: string[] = [];
    let cursor: string | undefined;
    for (;;) {
      const page = await caller.vm.list({ cursor, limit: 300 });
      seen.push(...page.map((v) => v.id));
      if (page.length < 300) break;
      cursor = page.at(-1)!.cursor;
    }
    // (The VM deleted above, vm04993, was neither the member's nor shared.)
    const expected = Array.from({ length: VMS }, (_, i) => VMS - 1 - i).filter((i) => i % 10 === 0 || i % 7 === 0);
    expect(seen).toEqual(expected.map((i) => `vm${String(i).padStart(5, "0")}`));
  });

  it("refuses a malformed cursor and an out-of-range page size", async () => {
    const caller = api.caller(admin);
    await expect(caller.vm.list({ cursor: "not a cursor" })).rejects.toThrow(/cursor/i);
    await expect(caller.vm.list({ limit: 0 })).rejects.toThrow();
    await expect(caller.vm.list({ limit: 10_000 })).rejects.toThrow();
  });

  it("answers the first page over HTTP to a GET without input (older callers) or with an empty one", async () => {
    const server = await serveApi(api.deps);
    try {
      const { token } = await api.caller(admin).apiToken.create({ name: "pages", scopes: ["vm:read"], expiresInDays: 1 });
      const get = async (query: string) => {
        const r = await fetch(`${server.url}/api/trpc/vm.list${query}`, { headers: { authorization: `Bearer ${token}` } });
        return { status: r.status, body: (await r.json()) as { result?: { data: { id: string }[] }; error?: { message: string } } };
      };
      for (const query of ["", `?input=${encodeURIComponent("{}")}`]) {
        const r = await get(query);
        expect([query, r.status, r.body.result?.data.length]).toEqual([query, 200, 100]);
      }
      expect((await get(`?input=${encodeURIComponent(JSON.stringify({ limit: 3 }))}`)).body.result?.data.map((v) => v.id)).toEqual(["vm04999", "vm04998", "vm04997"]);
      expect((await get("?input=%7Bnot-json")).status).toBe(400);
    } finally {
      await server.close();
    }
  });

  it("gives the node its whole desired set, and takes a report of every VM", async () => {
    const desired = await agent.nodeAgent.sync({ vms: [] });
    expect(desired.vms).toHaveLength(VMS - 1 + OTHER_TENANTS);
    expect(desired.vms.find((v) => v.id === "vm00001")).toMatchObject({ image: "debian-shell", engine: "qemu", op: { id: "op1", kind: "create" } });
    const t0 = Date.now();
    const again = await agent.nodeAgent.sync({ vms: desired.vms.map((v) => ({ id: v.id, state: "running" as const })), etag: desired.etag });
    console.log(`[scale] ${provider}: a sync reporting ${desired.vms.length} unchanged VMs took ${Date.now() - t0} ms`);
    expect(again.etag).toBe(desired.etag);
  });

  it("gives the node's gateway the console-access table of 1,001 tenants", async () => {
    const access = await agent.nodeAgent.consoleAccess();
    expect(access.vms).toHaveLength(VMS - 1 + OTHER_TENANTS);
    expect(access.tenants).toHaveLength(1 + OTHER_TENANTS);
    const big = access.tenants.find((t) => t.id === admin.tenantId)!;
    expect(big.admins).toContain(admin.userId);
    expect(big.users).toEqual([member.userId]);
    expect(access.tenants.find((t) => t.id === "t999")).toEqual({ id: "t999", admins: [], users: ["u999"] });
  });
});
