// Lifecycle actions that must not both win when they meet, on SQLite and PostgreSQL: a full
// clone of a stopped VM's disk and a start of that VM (the copy would read a disk being written);
// a VM's delete and a linked clone of its snapshot (the clone's disk would lose its base).
import { describe, it, expect, beforeAll, afterAll } from "vitest";
import { openTestApi, providers, type TestApi } from "./harness.ts";
import { seed, type Actor } from "../src/index.ts";

const caps = { engines: { qemu: { available: true, version: "7.2", accel: "tcg" } }, images: ["debian-shell"] };
const template = { name: "debian-shell", title: "Debian shell", engine: "qemu" as const, defaultMemoryMiB: 256, minMemoryMiB: 128, maxMemoryMiB: 1024, defaultCpus: 1, maxCpus: 2, diskSizeGiB: 1 };
const ROUNDS = 6;

describe.each(providers)("lifecycle races on %s", (provider) => {
  let api: TestApi;
  let alice: Actor;
  let templateId: string;
  let node: ReturnType<TestApi["caller"]>;

  /** What the node would say once it has carried out the VM's last operation. */
  async function nodeDone(vmId: string, state: "running" | "stopped") {
    const vm = (await api.db.vm.findUnique({ where: { id: vmId } }))!;
    await node.nodeAgent.sync({ vms: [{ id: vmId, state, op: { id: vm.lastOpId!, status: "succeeded", progress: 100 } }] });
  }

  async function stoppedVmWithSnapshot(name: string) {
    const c = api.caller(alice);
    const { vmId } = await c.vm.create({ templateId, name });
    await nodeDone(vmId, "running");
    await c.vm.stop({ vmId });
    await nodeDone(vmId, "stopped");
    const { snapshotId } = await c.snapshot.create({ vmId, name: "s", withRam: false });
    await nodeDone(vmId, "stopped");
    expect((await api.db.snapshot.findUnique({ where: { id: snapshotId } }))!.status).toBe("ready");
    return { vmId, snapshotId };
  }

  beforeAll(async () => {
    api = await openTestApi(provider);
    await seed(api.deps, { admin: { email: "admin@x.test", password: "admin-password" }, demo: { email: "demo@x.test", password: "demo-password" }, templates: [template] });
    alice = await api.makeUser("race");
    await api.db.tenant.update({ where: { id: alice.tenantId }, data: { maxVms: 1000, maxVcpus: 1000, maxMemoryMiB: 1_000_000, maxDiskGiB: 10_000, maxSnapshots: 1000 } });
    templateId = (await api.caller(alice).template.list())[0]!.id;
    const reg = await api.caller(null).nodeAgent.register({ joinToken: "test-join-token-0123456789", name: "n1", apiUrl: "http://127.0.0.1:1", consoleUrl: "ws://127.0.0.1:1", totalCpus: 64, totalMemoryMiB: 1_000_000, capabilities: caps });
    node = api.caller(null, new Headers({ authorization: `Bearer node.${reg.nodeId}.${reg.secret}` }));
  });
  afterAll(async () => api?.close());

  it("a full clone of the current disk and a start at the same moment: never both", async () => {
    const c = api.caller(alice);
    const outcomes: string[] = [];
    for (let i = 0; i < ROUNDS; i++) {
      const { vmId } = await stoppedVmWithSnapshot(`fc-${i}`);
      const [start, clone] = await Promise.allSettled([c.vm.start({ vmId }), c.vm.clone({ vmId, name: `fc-${i}-copy`, mode: "full" })]);
      outcomes.push(`${start.status[0]}${clone.status[0]}`);
      expect(start.status === "fulfilled" && clone.status === "fulfilled", `round ${i}: the start and the clone both went through`).toBe(false);
      expect(start.status === "fulfilled" || clone.status === "fulfilled", `round ${i}: neither went through`).toBe(true);
      const vm = (await api.db.vm.findUnique({ where: { id: vmId } }))!;
      const copies = await api.db.vm.count({ where: { cloneOfVmId: vmId } });
      // What the database says matches the winner.
      expect(copies === 1 ? vm.desiredState === "stopped" : vm.desiredState === "running").toBe(true);
    }
    console.log(`${provider}: start/clone outcomes (f = went through, r = refused): ${outcomes.join(" ")}`);
  });

  it("a full clone and a resize of the same VM at the same moment: one waits for the other (no deadlock), never both", async () => {
    const c = api.caller(alice);
    for (let i = 0; i < ROUNDS; i++) {
      const { vmId } = await stoppedVmWithSnapshot(`rs-${i}`);
      const [resize, clone] = await Promise.allSettled([c.vm.resize({ vmId, memoryMiB: 512 }), c.vm.clone({ vmId, name: `rs-${i}-copy`, mode: "full" })]);
      for (const r of [resize, clone]) {
        // A deadlock would surface as an internal error; the loser is told in words.
        if (r.status === "rejected") expect(String((r.reason as { code?: string }).code)).not.toBe("INTERNAL_SERVER_ERROR");
      }
      expect(resize.status === "fulfilled" && clone.status === "fulfilled", `round ${i}: the resize and the clone both went through`).toBe(false);
    }
  });

  it("a full clone of a VM whose guest powered off copies it, and the VM stays stopped (its node must not boot it mid-copy)", async () => {
    const c = api.caller(alice);
    const { vmId } = await c.vm.create({ templateId, name: "powered-off" });
    await nodeDone(vmId, "running");
    // The guest shut itself down: the node says stopped; the portal still wants it running.
    await node.nodeAgent.sync({ vms: [{ id: vmId, state: "stopped", reason: "The guest powered off" }] });
    const before = (await api.db.vm.findUniqueOrThrow({ where: { id: vmId } }));
    expect(before).toMatchObject({ actualState: "stopped", desiredState: "running" });
    await c.vm.clone({ vmId, name: "powered-off-copy", mode: "full" });
    const after = await api.db.vm.findUniqueOrThrow({ where: { id: vmId } });
    expect(after.desiredState).toBe("stopped");
    const desired = (await node.nodeAgent.sync({ vms: [] })).vms.find((v) => v.id === vmId)!;
    expect(desired.desiredState).toBe("stopped");
  });

  it("a VM's delete and a linked clone of its snapshot at the same moment: never both", async () => {
    const c = api.caller(alice);
    const outcomes: string[] = [];
    for (let i = 0; i < ROUNDS; i++) {
      const { vmId, snapshotId } = await stoppedVmWithSnapshot(`lc-${i}`);
      const [del, clone] = await Promise.allSettled([c.vm.delete({ vmId }), c.snapshot.clone({ snapshotId, name: `lc-${i}-linked`, mode: "linked" })]);
      outcomes.push(`${del.status[0]}${clone.status[0]}`);
      expect(del.status === "fulfilled" && clone.status === "fulfilled", `round ${i}: the delete and the linked clone both went through`).toBe(false);
      const vm = (await api.db.vm.findUnique({ where: { id: vmId } }))!;
      const clones = await api.db.vm.count({ where: { cloneOfVmId: vmId, cloneMode: "linked" } });
      expect(vm.desiredState === "deleted" && clones > 0, `round ${i}: a linked clone of a VM being deleted`).toBe(false);
    }
    console.log(`${provider}: delete/clone outcomes (f = went through, r = refused): ${outcomes.join(" ")}`);
  });

  it("a refusal names only the clones its reader may see", async () => {
    const bob = await api.makeUser("race");
    const { vmId, snapshotId } = await stoppedVmWithSnapshot("shared-src");
    await api.caller(alice).vm.share({ vmId, shared: true });
    const { vmId: cloneId } = await api.caller(bob).snapshot.clone({ snapshotId, name: "bobs-private-clone", mode: "linked" });
    await nodeDone(cloneId, "running");
    const refusal = async (p: Promise<unknown>) => p.then(() => "went through", (e: Error) => e.message);
    for (const msg of [await refusal(api.caller(alice).snapshot.delete({ snapshotId })), await refusal(api.caller(alice).vm.delete({ vmId }))]) {
      expect(msg).toMatch(/1 VM of another member/);
      expect(msg).not.toContain("bobs-private-clone");
    }
    // Once Bob shares his clone, it is named.
    await api.caller(bob).vm.share({ vmId: cloneId, shared: true });
    expect(await refusal(api.caller(alice).snapshot.delete({ snapshotId }))).toMatch(/is the base of linked clone "bobs-private-clone"/);
  });
});
