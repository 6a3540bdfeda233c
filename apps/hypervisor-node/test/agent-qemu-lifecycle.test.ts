// VM lifecycle against real QEMU (TCG here) through the API and a real node agent: snapshots as a
// tree (with and without RAM), revert, delete, linked and full clones, resize, a template made from
// a snapshot. Each step is checked from inside the guest: a marker file on its disk and a shell
// variable in its memory, read back over the serial port.
import { afterAll, beforeAll, describe, it, expect } from "vitest";
import { execFileSync } from "node:child_process";
import { existsSync, readdirSync, readFileSync, rmSync, statSync } from "node:fs";
import { join } from "node:path";
import { IMAGES, agentFixture, guestDriver, privateImageDir, qemuSkipReason, startAgent, until } from "./helpers.ts";

const TEMPLATE = join(IMAGES, "debian-shell", "template.json");
const skipReason = qemuSkipReason(TEMPLATE);
if (skipReason) console.warn(`[skip] QEMU lifecycle tests: ${skipReason}`);

describe.skipIf(skipReason !== null)("VM lifecycle with QEMU", () => {
  const f = agentFixture(TEMPLATE, "vdi-life-");
  // One booted VM ("life-1") for every feature below, in order; each \`it\` names its feature, so
  // the first failure says which one broke (later ones may then fail for the same reason).
  let images = "";
  let c: ReturnType<typeof f.api.caller>;
  let g: ReturnType<typeof guestDriver>;
  let vmId = "";
  const state = async (id: string) => (await c.vm.get({ vmId: id })).state;
  const serialOf = (id: string) => () => g.serial(id);
  let s1: { operationId: string; snapshotId: string };
  let s2: { operationId: string; snapshotId: string };
  let lc: { operationId: string; vmId: string };
  let bad: { operationId: string };

  beforeAll(async () => {
    const { api, server, templateId, dataDir } = f;
    images = privateImageDir(IMAGES, "debian-shell");
    const admin = await api.makeUser("life", "tenant_admin");
    c = api.caller(admin);
    f.agent = startAgent(server.url, dataDir, { VDI_IMAGE_DIR: images });
    await until("node up", async () => (await c.node.list()).find((n) => n.up && n.engines.qemu?.available));
    g = guestDriver(c, dataDir);
    const created = await c.vm.create({ templateId, name: "life-1" });
    vmId = created.vmId;
    await g.opDone(created.operationId);
    await g.ready(vmId, "life-1");
    await g.say(vmId, "echo deep > /mnt/disk/early; echo one > /mnt/disk/m; sync; X=ram1; echo MARK-$(cat /mnt/disk/m)", "MARK-one");
  }, 300_000);
  afterAll(() => { if (images) rmSync(images, { recursive: true, force: true }); });

  it("takes a live snapshot with RAM: the VM goes on running, the tree records it", async () => {
    const { opDone } = g;
    s1 = await c.snapshot.create({ vmId, name: "s1", description: "first", withRam: true });
    const t1 = Date.now();
    await opDone(s1.operationId);
    console.log(`live snapshot (256 MiB, RAM + disk layer): ${Date.now() - t1} ms`);
    expect(await state(vmId)).toBe("running");
    const tree = await c.snapshot.list({ vmId });
    expect(tree.currentSnapshotId).toBe(s1.snapshotId);
    expect(tree.snapshots[0]).toMatchObject({ name: "s1", description: "first", includesRam: true, status: "ready", parentId: null });
    expect(tree.snapshots[0]!.sizeBytes).toBeGreaterThan(1 << 20);
  }, 120_000);

  it("refuses a snapshot name in use, and one too long", async () => {
    await g.say(vmId, "echo two > /mnt/disk/m; sync; X=ram2; echo MARK-$(cat /mnt/disk/m)", "MARK-two");
    await expect(c.snapshot.create({ vmId, name: "s1" })).rejects.toThrow(/already has a snapshot named "s1"/);
    await expect(c.snapshot.create({ vmId, name: "x".repeat(65) })).rejects.toThrow(/at most 64 characters/);
  }, 60_000);

  it("reverts to a RAM snapshot: memory and disk come back", async () => {
    const r1 = await c.snapshot.restore({ snapshotId: s1.snapshotId });
    await g.opDone(r1.operationId);
    expect(await state(vmId)).toBe("running");
    await g.say(vmId, "echo AFTER-$(cat /mnt/disk/m)-$X", "AFTER-one-ram1");
  }, 120_000);

  it("takes a disk-only snapshot of the running VM below it, and refuses to revert a running VM to it", async () => {
    await g.say(vmId, "echo three > /mnt/disk/m; sync; echo MARK-$(cat /mnt/disk/m)", "MARK-three");
    s2 = await c.snapshot.create({ vmId, name: "s2", withRam: false });
    await g.opDone(s2.operationId);
    const tree = await c.snapshot.list({ vmId });
    expect(tree.snapshots.find((s) => s.id === s2.snapshotId)).toMatchObject({ parentId: s1.snapshotId, includesRam: false });
    await expect(c.snapshot.restore({ snapshotId: s2.snapshotId })).rejects.toThrow(/has no memory state: stop "life-1"/);
  }, 120_000);

  it("makes a linked clone that boots from the snapshot's disk with its own identity, copying nothing", async () => {
    const { vmDir, ready, say, opDone } = g;
    const before = readdirSync(vmDir(vmId)).sort();
    lc = await c.snapshot.clone({ snapshotId: s1.snapshotId, name: "life-linked", mode: "linked" });
    await opDone(lc.operationId);
    await ready(lc.vmId, "life-linked");
    const linkedBytes = statSync(join(vmDir(lc.vmId), "disk.qcow2")).blocks * 512;
    console.log(`linked clone: ${linkedBytes} bytes written for its disk`);
    expect(linkedBytes).toBeLessThan(2 << 20);
    const backing = JSON.parse(execFileSync("qemu-img", ["info", "-U", "--output=json", join(vmDir(lc.vmId), "disk.qcow2")]).toString())["full-backing-filename"];
    expect(backing.startsWith(vmDir(vmId))).toBe(true);
    expect((await c.vm.get({ vmId: lc.vmId })).macAddress).not.toBe((await c.vm.get({ vmId })).macAddress);
    await say(lc.vmId, "echo CLONE-$(cat /mnt/disk/m)", "CLONE-one");
    expect(readdirSync(vmDir(vmId)).sort()).toEqual(before); // nothing copied from the source
  }, 180_000);

  it("refuses to delete a snapshot or a VM a linked clone builds on", async () => {
    await expect(c.snapshot.delete({ snapshotId: s1.snapshotId })).rejects.toThrow(/base of linked clone "life-linked"/);
    await expect(c.vm.delete({ vmId })).rejects.toThrow(/linked clone "life-linked" uses its disk/);
  });

  it("makes a full clone of a three-layer chain: an independent disk with every layer's data", async () => {
    const { vmDir, ready, say, opDone } = g;
    // s2's chain is three layers deep here (s2 → s1's layer → first layer → base).
    const fc = await c.vm.clone({ vmId, snapshotId: s2.snapshotId, name: "life-full", mode: "full" });
    await opDone(fc.operationId, 120_000);
    const fullInfo = JSON.parse(execFileSync("qemu-img", ["info", "-U", "--output=json", join(vmDir(fc.vmId), "disk.qcow2")]).toString());
    expect(fullInfo["backing-filename"]).toBeUndefined();
    await ready(fc.vmId, "life-full");
    // "one" was written below s1 (two layers under s2's top), "three" into s2's own layer.
    await say(fc.vmId, "echo FULL-$(cat /mnt/disk/m)-$(cat /mnt/disk/early)", "FULL-three-deep");
    await opDone((await c.vm.delete({ vmId: fc.vmId })).operationId);
  }, 300_000);

  it("deletes a snapshot once its linked clone is gone; its child moves up to the root", async () => {
    const { vmDir, opDone } = g;
    await opDone((await c.vm.delete({ vmId: lc.vmId })).operationId);
    await until("clone gone", async () => !(await c.vm.list()).some((v) => v.id === lc.vmId));
    const d1 = await c.snapshot.delete({ snapshotId: s1.snapshotId });
    await opDone(d1.operationId);
    const tree = await c.snapshot.list({ vmId });
    expect(tree.snapshots.map((s) => [s.name, s.parentId])).toEqual([["s2", null]]);
    expect(existsSync(join(vmDir(vmId), "snapshots", s1.snapshotId))).toBe(false);
  }, 120_000);

  it("reverts a stopped VM to a disk-only snapshot, then grows its disk and memory", async () => {
    const { say, opDone } = g;
    await opDone((await c.vm.stop({ vmId })).operationId);
    const r2 = await c.snapshot.restore({ snapshotId: s2.snapshotId });
    await opDone(r2.operationId);
    expect(await state(vmId)).toBe("stopped");
    await expect(c.vm.resize({ vmId, diskGiB: 0 })).rejects.toThrow(/At least 1 GiB/);
    const rs = await c.vm.resize({ vmId, memoryMiB: 384, diskGiB: 2 });
    await opDone(rs.operationId);
    await expect(c.vm.resize({ vmId, diskGiB: 1 })).rejects.toThrow(/Disks can only grow/);
    expect(await c.vm.get({ vmId })).toMatchObject({ memoryMiB: 384, diskGiB: 2 });
    const serialBefore = serialOf(vmId)().length;
    await opDone((await c.vm.start({ vmId })).operationId);
    await until("rebooted", () => serialOf(vmId)().slice(serialBefore).includes("VDI-GUEST-READY life-1"), 90_000);
    await say(vmId, "echo S2-$(cat /mnt/disk/m)-$(cat /sys/block/vda/size)-$(grep MemTotal /proc/meminfo | tr -s ' ' | cut -d' ' -f2)", "S2-three-4194304-");
    const memKiB = Number(/S2-three-4194304-(\d+)/.exec(serialOf(vmId)())![1]);
    expect(memKiB).toBeGreaterThan(300 * 1024);
    await expect(c.vm.resize({ vmId, memoryMiB: 256 })).rejects.toThrow(/Stop "life-1" to change its CPUs or memory/);
  }, 240_000);

  it("refuses to load a memory snapshot into a VM of another size, before touching anything", async () => {
    const { vmDir, opDone } = g;
    const s3 = await c.snapshot.create({ vmId, name: "s3-384", withRam: true });
    await opDone(s3.operationId);
    await opDone((await c.vm.stop({ vmId })).operationId);
    await opDone((await c.vm.resize({ vmId, memoryMiB: 256 })).operationId);
    const activeBefore = readFileSync(join(vmDir(vmId), "active-layer"), "utf8");
    bad = await c.snapshot.restore({ snapshotId: s3.snapshotId });
    const badOp = await until("revert refused", async () => { const o = await c.operation.get({ operationId: bad.operationId }); return o.status === "failed" ? o : null; });
    expect(badOp.error).toMatch(/taken with 1 vCPU and 384 MiB; the VM now has 1 vCPU and 256 MiB/);
    expect(readFileSync(join(vmDir(vmId), "active-layer"), "utf8")).toBe(activeBefore);
    await until("still stopped", async () => { const v = await c.vm.get({ vmId }); return v.state === "stopped" && v.desiredState === "stopped"; });
    await opDone((await c.snapshot.delete({ snapshotId: s3.snapshotId })).operationId);
  }, 180_000);

  it("makes a template from a snapshot: a VM made from it finds the snapshot's file on its disk", async () => {
    const { ready, say, opDone } = g;
    const tp = await c.template.fromVm({ vmId, snapshotId: s2.snapshotId, title: "Life s2" });
    await opDone(tp.operationId, 120_000);
    const tpl = await until("template listed", async () => (await c.template.list()).find((t) => t.title === "Life s2"));
    await until("node reports the image", async () => (await f.api.db.node.findFirst())!.capabilities.includes(`tpl-${tp.templateId}`));
    const fromTpl = await c.vm.create({ templateId: tpl.id, name: "life-tpl" });
    await opDone(fromTpl.operationId);
    await ready(fromTpl.vmId, "life-tpl");
    await say(fromTpl.vmId, "echo TPL-$(cat /mnt/disk/m)", "TPL-three");
  }, 300_000);

  it("lists every operation with its outcome, and leaves no orphan layer on disk", async () => {
    const { vmDir } = g;
    const ops = await c.operation.list({ vmId, limit: 50 });
    expect(ops.map((o) => o.kind)).toEqual(expect.arrayContaining(["create", "snapshot", "restore", "snapshot-delete", "resize", "template", "stop", "start"]));
    expect(ops.filter((o) => o.status !== "succeeded").map((o) => o.id)).toEqual([bad.operationId]);
    // Every layer in the VM's folder is the active one or in a needed chain.
    const layers = readdirSync(vmDir(vmId)).filter((n) => n.endsWith(".qcow2"));
    const active = readFileSync(join(vmDir(vmId), "active-layer"), "utf8").trim();
    const chain = JSON.parse(execFileSync("qemu-img", ["info", "-U", "--backing-chain", "--output=json", join(vmDir(vmId), active)]).toString()) as { filename: string }[];
    const s2Layer = JSON.parse(readFileSync(join(vmDir(vmId), "snapshots", s2.snapshotId, "meta.json"), "utf8")).layer;
    const needed = new Set([...chain.map((x) => x.filename.split("/").pop()), s2Layer]);
    expect(layers.filter((l) => !needed.has(l))).toEqual([]);
    expect(readdirSync(join(vmDir(vmId), "snapshots"))).toEqual([s2.snapshotId]);
  });
});
