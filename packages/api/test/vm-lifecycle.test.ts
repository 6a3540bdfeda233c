// Service-layer tests through tRPC callers, on SQLite and PostgreSQL.
import { describe, it, expect, beforeAll, afterAll } from "vitest";
import { TRPCError } from "@trpc/server";
import { openTestApi, providers, type TestApi } from "./harness.ts";
import { seed, type Actor } from "../src/index.ts";

const caps = { engines: { qemu: { available: true, version: "7.2", accel: "tcg" } }, images: ["debian-shell"] };
const template = { name: "debian-shell", title: "Debian shell", engine: "qemu" as const, defaultMemoryMiB: 256, minMemoryMiB: 128, maxMemoryMiB: 1024, defaultCpus: 1, maxCpus: 2, diskSizeGiB: 1 };

async function code(p: Promise<unknown>): Promise<string> {
  try {
    await p;
  } catch (e) {
    return e instanceof TRPCError ? `${e.code}: ${e.message}` : `other: ${String(e)}`;
  }
  return "ok";
}

describe.each(providers)("vm lifecycle on %s", (provider) => {
  let api: TestApi;
  let alice: Actor;
  let mallory: Actor;
  let templateId: string;
  /** The node's credentials from its registration (re-registering its name needs them). */
  let n1: { nodeId: string; secret: string };

  beforeAll(async () => {
    api = await openTestApi(provider);
    await seed(api.deps, { admin: { email: "admin@x.test", password: "admin-password" }, demo: { email: "demo@x.test", password: "demo-password" }, templates: [template] });
    alice = await api.makeUser("acme");
    mallory = await api.makeUser("evil");
    templateId = (await api.caller(alice).template.list())[0]!.id;
  });
  afterAll(async () => api?.close());

  it("logs in with the seeded password through Better Auth and sets a session cookie", async () => {
    // Its own client address: sign-ins are rate-limited per address, across providers.
    const client = () => new Headers({ "x-vdi-client-ip": `198.51.100.${provider === "sqlite" ? 10 : 20}` });
    const caller = api.caller(null, client());
    expect(await code(caller.auth.login({ email: "demo@x.test", password: "wrong-password" }))).toMatch(/^UNAUTHORIZED: Wrong email or password/);
    const headers = client();
    const ctxRes = new Headers();
    const { createContext } = await import("../src/index.ts");
    const ctx = await createContext(api.deps, { headers, resHeaders: ctxRes });
    const { appRouter, createCallerFactory } = await import("../src/index.ts");
    await createCallerFactory(appRouter)(ctx).auth.login({ email: "DEMO@x.test", password: "demo-password" });
    const cookie = ctxRes.getSetCookie().find((c) => c.startsWith("vdi.session_token="));
    expect(cookie).toBeTruthy();
    const ctx2 = await createContext(api.deps, { headers: new Headers({ cookie: cookie!.split(";")[0]! }), resHeaders: new Headers() });
    expect(ctx2.actor?.email).toBe("demo@x.test");
    expect(ctx2.actor?.role).toBe("tenant_admin");
  });

  it("refuses to create when no node is registered, leaving nothing behind", async () => {
    expect(await code(api.caller(alice).vm.create({ templateId, name: "first" }))).toMatch(/^SERVICE_UNAVAILABLE: No hypervisor node/);
    expect(await api.db.vm.count()).toBe(0);
  });

  it("runs the create flow with a node: register, long-poll sync, report progress, running", async () => {
    const anon = api.caller(null);
    expect(await code(anon.nodeAgent.register({ joinToken: "nope", name: "n1", apiUrl: "http://127.0.0.1:1", consoleUrl: "ws://127.0.0.1:1", totalCpus: 2, totalMemoryMiB: 4096, capabilities: caps }))).toMatch(/^UNAUTHORIZED/);
    const reg = await anon.nodeAgent.register({ joinToken: "test-join-token-0123456789", name: "n1", apiUrl: "http://127.0.0.1:1", consoleUrl: "ws://127.0.0.1:1", totalCpus: 2, totalMemoryMiB: 4096, capabilities: caps });
    n1 = reg;
    const node = api.caller(null, new Headers({ authorization: `Bearer node.${reg.nodeId}.${reg.secret}` }));
    expect(await code(api.caller(null, new Headers({ authorization: `Bearer node.${reg.nodeId}.${"x".repeat(43)}` })).nodeAgent.sync({ vms: [] }))).toMatch(/^UNAUTHORIZED/);

    const empty = await node.nodeAgent.sync({ vms: [] });
    expect(empty.vms).toEqual([]);
    // A long-poll with the current etag wakes up as soon as a VM is created.
    const t0 = Date.now();
    const polled = node.nodeAgent.sync({ vms: [], etag: empty.etag, waitMs: 10_000 });
    const { vmId, operationId } = await api.caller(alice).vm.create({ templateId, name: "web-1", memoryMiB: 512 });
    const desired = await polled;
    expect(Date.now() - t0).toBeLessThan(5_000);
    expect(desired.vms).toHaveLength(1);
    expect(desired.vms[0]).toMatchObject({ id: vmId, desiredState: "running", memoryMiB: 512, image: "debian-shell", op: { id: operationId, kind: "create" } });

    await node.nodeAgent.sync({ vms: [{ id: vmId, state: "provisioning", op: { id: operationId, status: "running", progress: 40 } }] });
    expect(await api.caller(alice).operation.get({ operationId })).toMatchObject({ status: "running", progress: 40 });
    await node.nodeAgent.sync({ vms: [{ id: vmId, state: "running", op: { id: operationId, status: "succeeded", progress: 100 } }] });
    const vm = await api.caller(alice).vm.get({ vmId });
    expect(vm.state).toBe("running");
    expect(vm.actions).toEqual(expect.arrayContaining(["stop", "reboot", "delete", "console"]));

    // Console tokens verify with the public key the node received.
    const { verifyConsoleToken } = await import("@vdi/node-protocol/capability-token");
    const opened = await api.caller(alice).console.open({ vmId });
    const token = new URL(opened.url).searchParams.get("token")!;
    const v = verifyConsoleToken(token, reg.consolePublicKeyPem);
    expect(v.ok && v.claims).toMatchObject({ vm: vmId, node: reg.nodeId, user: alice.userId, proto: "vnc" });

    // Other tenants see nothing and can do nothing.
    expect(await api.caller(mallory).vm.list()).toEqual([]);
    expect(await code(api.caller(mallory).vm.get({ vmId }))).toMatch(/^NOT_FOUND/);
    expect(await code(api.caller(mallory).vm.stop({ vmId }))).toMatch(/^NOT_FOUND/);
    expect(await code(api.caller(mallory).console.open({ vmId }))).toMatch(/^NOT_FOUND/);
    expect(await code(api.caller(mallory).operation.get({ operationId }))).toMatch(/^NOT_FOUND/);
    expect(await code(api.caller(null).vm.list())).toMatch(/^UNAUTHORIZED/);

    // Pause and resume: desired state follows, the node reports paused, then running again.
    const pause = await api.caller(alice).vm.pause({ vmId });
    expect((await node.nodeAgent.sync({ vms: [] })).vms[0]).toMatchObject({ desiredState: "paused", op: { id: pause.operationId, kind: "pause" } });
    await node.nodeAgent.sync({ vms: [{ id: vmId, state: "paused", op: { id: pause.operationId, status: "succeeded", progress: 100 } }] });
    expect((await api.caller(alice).vm.get({ vmId })).actions).toEqual(expect.arrayContaining(["resume", "console"]));
    expect(await code(api.caller(alice).vm.pause({ vmId }))).toMatch(/^PRECONDITION_FAILED: Cannot pause "web-1": it is paused/);
    const resume = await api.caller(alice).vm.resume({ vmId });
    await node.nodeAgent.sync({ vms: [{ id: vmId, state: "running", op: { id: resume.operationId, status: "succeeded", progress: 100 } }] });
    expect((await api.caller(alice).vm.get({ vmId })).state).toBe("running");

    // Snapshots form a tree: recorded ready only when the node reports them complete.
    const report = (opId: string, status: "running" | "succeeded" | "failed", extra: Record<string, unknown> = {}, state: "running" | "stopped" = "running") =>
      node.nodeAgent.sync({ vms: [{ id: vmId, state, op: { id: opId, status, progress: status === "running" ? 50 : 100, ...extra } }] });
    const s1 = await api.caller(alice).snapshot.create({ vmId, name: "s1", description: "first" });
    const d1 = (await node.nodeAgent.sync({ vms: [] })).vms[0]!;
    expect(d1.op).toMatchObject({ id: s1.operationId, kind: "snapshot" });
    expect(d1.op!.arg).toEqual({ snapshotId: s1.snapshotId, withRam: true });  // decoded once, on the portal
    expect((await api.caller(alice).snapshot.list({ vmId })).snapshots[0]).toMatchObject({ status: "creating" });
    await report(s1.operationId, "succeeded", { bytes: 123_456 });
    let tree = await api.caller(alice).snapshot.list({ vmId });
    expect(tree).toMatchObject({ currentSnapshotId: s1.snapshotId, snapshots: [{ name: "s1", status: "ready", sizeBytes: 123_456, parentId: null, includesRam: true }] });
    const s2 = await api.caller(alice).snapshot.create({ vmId, name: "s2", withRam: false });
    await report(s2.operationId, "succeeded", { bytes: 1000 });
    tree = await api.caller(alice).snapshot.list({ vmId });
    expect(tree.snapshots.find((x) => x.name === "s2")).toMatchObject({ parentId: s1.snapshotId, includesRam: false });
    // A failed snapshot leaves no row.
    const s3 = await api.caller(alice).snapshot.create({ vmId, name: "s3" });
    await report(s3.operationId, "failed", { error: "disk full" });
    expect((await api.caller(alice).snapshot.list({ vmId })).snapshots.map((x) => x.name)).toEqual(["s1", "s2"]);
    // Bad input and bad states: clear refusals, nothing recorded.
    expect(await code(api.caller(alice).snapshot.create({ vmId, name: "s1" }))).toMatch(/^CONFLICT: "web-1" already has a snapshot named "s1"/);
    expect(await code(api.caller(alice).snapshot.create({ vmId, name: "x".repeat(65) }))).toMatch(/^BAD_REQUEST: .*at most 64 characters/);
    expect(await code(api.caller(alice).snapshot.restore({ snapshotId: s2.snapshotId }))).toMatch(/^PRECONDITION_FAILED: Snapshot "s2" has no memory state: stop "web-1"/);
    expect(await code(api.caller(alice).vm.resize({ vmId, memoryMiB: 384 }))).toMatch(/^PRECONDITION_FAILED: Stop "web-1" to change its CPUs or memory/);
    expect(await code(api.caller(alice).vm.resize({ vmId, diskGiB: 0 }))).toMatch(/^BAD_REQUEST: .*At least 1 GiB/);
    expect(await code(api.caller(alice).vm.clone({ vmId, name: "web-1-copy", mode: "full" }))).toMatch(/^PRECONDITION_FAILED: "web-1" is running: stop it for a full clone/);
    expect(await code(api.caller(alice).vm.clone({ vmId, name: "web-1-copy", mode: "linked" }))).toMatch(/^BAD_REQUEST: A linked clone is made from a snapshot/);
    expect(await code(api.caller(alice).template.fromVm({ vmId, title: "Web", scope: "global" }))).toMatch(/^FORBIDDEN: Only platform admins/);
    expect(await code(api.caller(alice).template.fromVm({ vmId, title: "Web" }))).toMatch(/^PRECONDITION_FAILED: Stop "web-1" first, or make the template from one of its snapshots/);
    // Quota on snapshots, checked in the transaction.
    await api.db.tenant.update({ where: { id: alice.tenantId }, data: { maxSnapshots: 2 } });
    expect(await code(api.caller(alice).snapshot.create({ vmId, name: "s4" }))).toMatch(/^FORBIDDEN: Quota reached: at most 2 snapshots/);
    await api.db.tenant.update({ where: { id: alice.tenantId }, data: { maxSnapshots: 50 } });
    // Other tenants see nothing.
    expect(await code(api.caller(mallory).snapshot.list({ vmId }))).toMatch(/^NOT_FOUND/);
    expect(await code(api.caller(mallory).snapshot.restore({ snapshotId: s1.snapshotId }))).toMatch(/^NOT_FOUND/);
    expect(await code(api.caller(mallory).snapshot.delete({ snapshotId: s1.snapshotId }))).toMatch(/^NOT_FOUND/);
    expect(await code(api.caller(mallory).vm.clone({ vmId, snapshotId: s1.snapshotId, name: "stolen", mode: "linked" }))).toMatch(/^NOT_FOUND/);

    // A linked clone of s1 pins it: s1 and the source VM cannot go while the clone exists.
    const lc = await api.caller(alice).snapshot.clone({ snapshotId: s1.snapshotId, name: "web-1-linked", mode: "linked" });
    const cloneSpec = (await node.nodeAgent.sync({ vms: [] })).vms.find((x) => x.id === lc.vmId)!;
    expect(cloneSpec.cloneOf).toEqual({ vmId, snapshotId: s1.snapshotId, mode: "linked" });
    expect(cloneSpec.macAddress).not.toBe(desired.vms[0]!.macAddress);
    expect(await code(api.caller(alice).snapshot.delete({ snapshotId: s1.snapshotId }))).toMatch(/^PRECONDITION_FAILED: Snapshot "s1" is the base of linked clone "web-1-linked"/);
    expect(await code(api.caller(alice).vm.delete({ vmId }))).toMatch(/^PRECONDITION_FAILED: Cannot delete "web-1": linked clone "web-1-linked" uses its disk/);
    const lcDel = await api.caller(alice).vm.delete({ vmId: lc.vmId });
    await node.nodeAgent.sync({ vms: [{ id: lc.vmId, state: "deleted", op: { id: lcDel.operationId, status: "succeeded", progress: 100 } }] });
    // Deleting s1 re-parents s2 and moves the VM's position up.
    const del1 = await api.caller(alice).snapshot.delete({ snapshotId: s1.snapshotId });
    expect((await api.caller(alice).snapshot.list({ vmId })).snapshots.find((x) => x.name === "s1")?.status).toBe("deleting");
    await report(del1.operationId, "succeeded");
    tree = await api.caller(alice).snapshot.list({ vmId });
    expect(tree.snapshots.map((x) => [x.name, x.parentId])).toEqual([["s2", null]]);
    expect(tree.currentSnapshotId).toBe(s2.snapshotId);

    // A failed save leaves the VM as it is: the desired state follows what the node reports.
    const save = await api.caller(alice).vm.save({ vmId });
    await report(save.operationId, "failed", { error: "Interrupted" });
    expect(await api.caller(alice).vm.get({ vmId })).toMatchObject({ desiredState: "running", state: "running" });

    // Live progress: the subscription yields the VM's operations again when the node reports progress.
    const watch = (await api.caller(alice).operation.watch({ vmId })) as AsyncIterable<{ kind: string; progress: number; status: string }[]>;
    const it = watch[Symbol.asyncIterator]();
    const s5 = await api.caller(alice).snapshot.create({ vmId, name: "s5" });
    const first = (await it.next()).value!;
    expect(first[0]).toMatchObject({ kind: "snapshot", status: "pending", progress: 0 });
    await report(s5.operationId, "running");
    expect((await it.next()).value![0]).toMatchObject({ kind: "snapshot", status: "running", progress: 50 });
    await report(s5.operationId, "succeeded", { bytes: 1 });
    expect((await it.next()).value![0]).toMatchObject({ kind: "snapshot", status: "succeeded", progress: 100 });
    await it.return?.();
    // Another tenant's VM: refused, not an empty stream.
    expect(await code(api.caller(mallory).operation.watch({ vmId }).then(async (w) => (w as AsyncIterable<unknown[]>)[Symbol.asyncIterator]().next()))).toMatch(/^NOT_FOUND: VM not found/);

    // Stop → node stops → stopped; delete → node reports deleted → row gone.
    const stop = await api.caller(alice).vm.stop({ vmId });
    expect(await code(api.caller(alice).vm.reboot({ vmId }))).toMatch(/^PRECONDITION_FAILED: .*in progress/);
    await node.nodeAgent.sync({ vms: [{ id: vmId, state: "stopped", op: { id: stop.operationId, status: "succeeded", progress: 100 } }] });
    expect((await api.caller(alice).vm.get({ vmId })).state).toBe("stopped");
    expect(await code(api.caller(alice).console.open({ vmId }))).toMatch(/^PRECONDITION_FAILED/);
    const del = await api.caller(alice).vm.delete({ vmId });
    expect(await code(api.caller(alice).vm.clone({ vmId, name: "too-late", mode: "full" }))).toMatch(/^PRECONDITION_FAILED: "web-1" is being deleted/);
    await node.nodeAgent.sync({ vms: [{ id: vmId, state: "deleted", op: { id: del.operationId, status: "succeeded", progress: 100 } }] });
    expect(await api.caller(alice).vm.list()).toEqual([]);
    expect(await api.caller(alice).operation.get({ operationId: del.operationId })).toMatchObject({ status: "succeeded", vmName: "web-1" });
  });

  it("rejects bad input with clear messages and changes nothing", async () => {
    const a = api.caller(alice);
    const before = await api.db.vm.count();
    expect(await code(a.vm.create({ templateId: "nope", name: "x" }))).toMatch(/^NOT_FOUND: Template not found/);
    expect(await code(a.vm.create({ templateId, name: "Bad Name!" }))).toMatch(/^BAD_REQUEST/);
    expect(await code(a.vm.create({ templateId, name: "ok", memoryMiB: 4096 }))).toMatch(/^BAD_REQUEST: Memory must be between 128 and 1024 MiB/);
    expect(await code(a.vm.create({ templateId, name: "ok", cpus: 3 }))).toMatch(/^BAD_REQUEST: CPUs must be between 1 and 2/);
    await a.vm.create({ templateId, name: "dup" });
    expect(await code(a.vm.create({ templateId, name: "dup" }))).toMatch(/^CONFLICT: A VM named "dup" already exists/);
    expect(await api.db.vm.count()).toBe(before + 1);
  });

  it("fails a create when the node reports a disk error, and removes the VM row", async () => {
    const { vmId, operationId } = await api.caller(alice).vm.create({ templateId, name: "doomed" });
    const node = await api.db.vm.findUniqueOrThrow({ where: { id: vmId } });
    // The node registers again (as after losing track of its secret), proving who it is.
    const reg = await api.caller(null, new Headers({ authorization: `Bearer node.${n1.nodeId}.${n1.secret}` })).nodeAgent.register({ joinToken: "test-join-token-0123456789", name: "n1", apiUrl: "http://127.0.0.1:1", consoleUrl: "ws://127.0.0.1:1", totalCpus: 2, totalMemoryMiB: 4096, capabilities: caps });
    n1 = reg;
    expect(reg.nodeId).toBe(node.nodeId);
    const agent = api.caller(null, new Headers({ authorization: `Bearer node.${reg.nodeId}.${reg.secret}` }));
    await agent.nodeAgent.sync({ vms: [{ id: vmId, state: "error", reason: "disk", op: { id: operationId, status: "failed", progress: 10, error: "Cannot create the disk: No space left on device" } }] });
    expect(await api.db.vm.findUnique({ where: { id: vmId } })).toBeNull();
    expect(await api.caller(alice).operation.get({ operationId })).toMatchObject({ status: "failed", error: "Cannot create the disk: No space left on device" });
  });

  it("says which node is down", async () => {
    await api.db.node.updateMany({ data: { lastSeenAt: new Date(Date.now() - 60_000) } });
    expect(await code(api.caller(alice).vm.create({ templateId, name: "late" }))).toMatch(/^SERVICE_UNAVAILABLE: All hypervisor nodes are down \(node n1 last seen 60 s ago\)/);
    const [vm] = await api.caller(alice).vm.list();
    expect(vm!.state).toBe("unknown");
    expect(vm!.actions).toEqual([]);
  });
});
