// Quotas under concurrency: N creates (clones, resizes) at the quota's edge at the same time;
// exactly the allowed number succeed, the others get a clear quota error (not a database error),
// on both databases. Every dimension: VMs, vCPUs, memory, disk, snapshots; and per-member limits.
import { describe, it, expect, beforeAll, afterAll } from "vitest";
import { TRPCError } from "@trpc/server";
import { openTestApi, providers, type TestApi } from "./harness.ts";
import { seed, type Actor } from "../src/index.ts";
import { resizeVm } from "../src/services/vm/resize-vm.ts";
import { isAppError } from "../src/errors.ts";

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

  /** The node reports the VM's last operation done and the VM in `state`. */
  async function settleVm(vmId: string, state: "running" | "stopped") {
    const row = await api.db.vm.findUniqueOrThrow({ where: { id: vmId } });
    await node.nodeAgent.sync({ vms: [{ id: vmId, state, op: { id: row.lastOpId!, status: "succeeded", progress: 100 } }] });
  }

  /** Quotas with room to spare, except `edge`: what is in use now plus `room`. */
  async function quotaEdge(edge: "vms" | "vcpus" | "memoryMiB" | "diskGiB", room: number) {
    const used = (await api.caller(carol).tenant.usage()).used;
    const column = { vms: "maxVms", vcpus: "maxVcpus", memoryMiB: "maxMemoryMiB", diskGiB: "maxDiskGiB" }[edge];
    await api.db.tenant.update({
      where: { id: carol.tenantId },
      data: { maxVms: 1000, maxVcpus: 1000, maxMemoryMiB: 1 << 20, maxDiskGiB: 10_000, maxSnapshots: 1000, [column]: used[edge] + room },
    });
    return used[edge] + room;
  }

  const ok = (results: string[]) => results.filter((r) => r === "ok");
  const refusals = (results: string[]) => results.filter((r) => r !== "ok");

  it("counts memory atomically at create: 6 creates of 256 MiB race for 768 MiB", async () => {
    const max = await quotaEdge("memoryMiB", 3 * 256);
    const results = await settle(Array.from({ length: 6 }, (_, i) => api.caller(carol).vm.create({ templateId, name: `ram-${i}`, memoryMiB: 256 })));
    expect(ok(results)).toHaveLength(3);
    for (const r of refusals(results)) expect(r).toMatch(/^FORBIDDEN: Quota reached: \d+ MiB of memory in all/);
    expect((await api.caller(carol).tenant.usage()).used.memoryMiB).toBe(max);
  });

  it("counts disk atomically at create: 5 creates of 1 GiB race for 2 GiB", async () => {
    const max = await quotaEdge("diskGiB", 2);
    const results = await settle(Array.from({ length: 5 }, (_, i) => api.caller(carol).vm.create({ templateId, name: `disk-${i}` })));
    expect(ok(results)).toHaveLength(2);
    for (const r of refusals(results)) expect(r).toMatch(/^FORBIDDEN: Quota reached: \d+ GiB of disk in all/);
    expect((await api.caller(carol).tenant.usage()).used.diskGiB).toBe(max);
  });

  it("counts clones from a snapshot (snapshot.clone) atomically: 6 linked clones race for the last 2 VMs", async () => {
    await quotaEdge("vms", 1000);
    const src = await api.caller(carol).vm.create({ templateId, name: "clone-src" });
    await settleVm(src.vmId, "running");
    const snap = await api.caller(carol).snapshot.create({ vmId: src.vmId, name: "base" });
    await node.nodeAgent.sync({ vms: [{ id: src.vmId, state: "running", op: { id: snap.operationId, status: "succeeded", progress: 100, bytes: 1 } }] });
    const max = await quotaEdge("vms", 2);
    const results = await settle(Array.from({ length: 6 }, (_, i) => api.caller(carol).snapshot.clone({ snapshotId: snap.snapshotId, name: `lc-${i}`, mode: "linked" })));
    expect(ok(results)).toHaveLength(2);
    for (const r of refusals(results)) expect(r).toMatch(/^FORBIDDEN: Quota reached: at most \d+ VMs/);
    expect(await api.db.vm.count({ where: { tenantId: carol.tenantId } })).toBe(max);
    expect(await api.db.vm.count({ where: { cloneOfSnapshotId: snap.snapshotId } })).toBe(2);
  });

  it("counts full clones of a stopped VM (vm.clone) atomically: 5 clones of a 1 GiB disk race for 3 GiB", async () => {
    await quotaEdge("vms", 1000);
    const src = await api.caller(carol).vm.create({ templateId, name: "full-src" });
    await settleVm(src.vmId, "stopped");
    const max = await quotaEdge("diskGiB", 3);
    const results = await settle(Array.from({ length: 5 }, (_, i) => api.caller(carol).vm.clone({ vmId: src.vmId, name: `fc-${i}`, mode: "full" })));
    expect(ok(results)).toHaveLength(3);
    for (const r of refusals(results)) expect(r).toMatch(/^FORBIDDEN: Quota reached: \d+ GiB of disk in all/);
    expect((await api.caller(carol).tenant.usage()).used.diskGiB).toBe(max);
    expect(await api.db.vm.count({ where: { cloneOfVmId: src.vmId } })).toBe(3);
  });

  /** Two stopped VMs of 1 vCPU, 256 MiB, 1 GiB, for resizes. */
  async function twoStoppedVms(prefix: string) {
    await quotaEdge("vms", 1000);
    const ids: string[] = [];
    for (const n of ["a", "b"]) {
      const vm = await api.caller(carol).vm.create({ templateId, name: `${prefix}-${n}`, cpus: 1, memoryMiB: 256 });
      await settleVm(vm.vmId, "stopped");
      ids.push(vm.vmId);
    }
    return ids as [string, string];
  }

  it("lets exactly one of two concurrent resizes through when each fits alone but not both (vCPUs, memory, disk)", async () => {
    const cases = [
      ["vcpus", { cpus: 2 }, /^FORBIDDEN: Quota reached: \d+ vCPUs in all/],
      ["memoryMiB", { memoryMiB: 512 }, /^FORBIDDEN: Quota reached: \d+ MiB of memory in all/],
      ["diskGiB", { diskGiB: 2 }, /^FORBIDDEN: Quota reached: \d+ GiB of disk in all/],
    ] as const;
    for (const [dim, change, refusal] of cases) {
      const [x, y] = await twoStoppedVms(`rs-${dim.toLowerCase()}`);
      // Room for one step up: 1 vCPU, 256 MiB or 1 GiB more.
      const max = await quotaEdge(dim, dim === "memoryMiB" ? 256 : 1);
      const results = await settle([x, y].map((vmId) => api.caller(carol).vm.resize({ vmId, ...change })));
      expect(ok(results), `${dim}: ${results.join(" | ")}`).toHaveLength(1);
      expect(refusals(results)[0]).toMatch(refusal);
      expect((await api.caller(carol).tenant.usage()).used[dim]).toBe(max);
    }
  });

  it("lets one of two concurrent resizes of the same VM through: the other is told, and never shrinks the disk", async () => {
    const [x] = await twoStoppedVms("same");
    await quotaEdge("diskGiB", 100);
    const results = await settle([api.caller(carol).vm.resize({ vmId: x, diskGiB: 5 }), api.caller(carol).vm.resize({ vmId: x, diskGiB: 3 })]);
    const disk = (await api.db.vm.findUniqueOrThrow({ where: { id: x } })).diskGiB;
    // Run one after the other (on SQLite a mutation's transaction, its audit line's, holds the
    // write lock throughout), 3 then 5 are two grows; 5 then 3 refuses the shrink.
    if (ok(results).length === 2) expect(disk, results.join(" | ")).toBe(5);
    else {
      expect(ok(results), results.join(" | ")).toHaveLength(1);
      expect(refusals(results)[0]).toMatch(/^(CONFLICT: |PRECONDITION_FAILED: |BAD_REQUEST: Disks can only grow)/);
      expect([3, 5]).toContain(disk);
    }
    // The grow that lost, asked again after the other: 3 after 5 would shrink, and is refused.
    if (disk === 5) expect((await settle([api.caller(carol).vm.resize({ vmId: x, diskGiB: 3 })]))[0]).toMatch(/^(BAD_REQUEST: Disks can only grow|PRECONDITION_FAILED)/);
  });

  it("refuses a resize that read the VM before another resize completed, instead of applying stale numbers (no shrunk disk)", async () => {
    const [x] = await twoStoppedVms("stale");
    await quotaEdge("diskGiB", 100);
    // The slow resize's first read of the VM (outside its transaction) waits at a gate: the window
    // a real request has between reading the VM and locking it, held open on purpose.
    let release!: () => void;
    const gate = new Promise<void>((r) => { release = r; });
    let held = false;
    const vmDelegate = new Proxy(api.db.vm, {
      get(target, prop, receiver) {
        const v = Reflect.get(target, prop, receiver) as unknown;
        if (prop !== "findFirst" || held) return typeof v === "function" ? (v as (...a: unknown[]) => unknown).bind(target) : v;
        held = true;
        return async (...args: unknown[]) => { const row = await (v as (...a: unknown[]) => Promise<unknown>).apply(target, args); await gate; return row; };
      },
    });
    const slowDb = new Proxy(api.db, { get: (target, prop) => (prop === "vm" ? vmDelegate : (Reflect.get(target, prop) as unknown)) }) as typeof api.db;
    const slow = resizeVm({ db: slowDb, nodeDownAfterMs: api.deps.nodeDownAfterMs, ip: null }, carol, { vmId: x, diskGiB: 3 }).then(() => "ok", (e: unknown) => (isAppError(e) ? `${e.code}: ${e.message}` : `other: ${String(e)}`));
    await new Promise((r) => setTimeout(r, 50));
    expect(held).toBe(true);
    // Meanwhile another resize grows the disk to 5 GiB, and the node finishes it.
    await api.caller(carol).vm.resize({ vmId: x, diskGiB: 5 });
    await settleVm(x, "stopped");
    release();
    expect(await slow).toMatch(/^CONFLICT: .*resized at the same moment/);
    expect((await api.db.vm.findUniqueOrThrow({ where: { id: x } })).diskGiB).toBe(5);
  });

  describe("per-member limits", () => {
    let dave: Actor;
    beforeAll(async () => {
      dave = await api.makeUser("racy", "user");
    });

    it("lets exactly a member's VM limit through when 6 of their creates race, inside a roomy tenant quota", async () => {
      await quotaEdge("vms", 1000);
      await api.caller(carol).tenant.setMemberLimits({ userId: dave.userId, vms: 2 });
      const results = await settle(Array.from({ length: 6 }, (_, i) => api.caller(dave).vm.create({ templateId, name: `dave-${i}` })));
      expect(ok(results)).toHaveLength(2);
      for (const r of refusals(results)) expect(r).toMatch(/^FORBIDDEN: Your member limit reached: at most 2 VMs/);
      expect(await api.db.vm.count({ where: { ownerId: dave.userId } })).toBe(2);
      // The usage box shows the member's own use and limits.
      expect((await api.caller(dave).tenant.usage()).member).toMatchObject({ used: { vms: 2 }, limits: { vms: 2, vcpus: null } });
      // Lifted: only the tenant quota applies again.
      await api.caller(carol).tenant.setMemberLimits({ userId: dave.userId, vms: null });
      expect(await settle([api.caller(dave).vm.create({ templateId, name: "dave-after" })])).toEqual(["ok"]);
    });

    it("counts a member's memory across concurrent creates and clones, and holds a tenant admin's resize of their VM to it", async () => {
      // One VM of dave's to resize later, another to clone from (a full clone's source refuses resizes while it is copied).
      const target = (await api.caller(dave).vm.create({ templateId, name: "dave-resize" })).vmId;
      await settleVm(target, "stopped");
      const mine = (await api.db.vm.aggregate({ where: { ownerId: dave.userId }, _sum: { memoryMiB: true, cpus: true } }))._sum;
      await api.caller(carol).tenant.setMemberLimits({ userId: dave.userId, memoryMiB: (mine.memoryMiB ?? 0) + 512, vcpus: (mine.cpus ?? 0) + 10 });
      const src = (await api.db.vm.findFirstOrThrow({ where: { ownerId: dave.userId, name: "dave-after" } })).id;
      await settleVm(src, "stopped");
      const results = await settle([
        ...Array.from({ length: 3 }, (_, i) => api.caller(dave).vm.create({ templateId, name: `dm-${i}`, memoryMiB: 256 })),
        ...Array.from({ length: 3 }, (_, i) => api.caller(dave).vm.clone({ vmId: src, name: `dmc-${i}`, mode: "full" })),
      ]);
      expect(ok(results), results.join(" | ")).toHaveLength(2);
      for (const r of refusals(results)) expect(r).toMatch(/^FORBIDDEN: Your member limit reached: at most \d+ MiB of memory/);
      // The owner's limit binds whoever resizes: the tenant admin is told whose it is.
      const r = await settle([api.caller(carol).vm.resize({ vmId: target, memoryMiB: 512 })]);
      expect(r[0]).toMatch(new RegExp(`^FORBIDDEN: ${dave.email.replace(/[.]/g, "\\.")}'s member limit reached: at most \\d+ MiB of memory`));
      await api.caller(carol).tenant.setMemberLimits({ userId: dave.userId, memoryMiB: null, vcpus: null });
      expect(await settle([api.caller(carol).vm.resize({ vmId: target, memoryMiB: 512 })])).toEqual(["ok"]);
    });
  });
});
