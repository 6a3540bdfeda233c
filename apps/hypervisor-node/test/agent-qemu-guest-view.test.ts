// The VM lifecycle as the guest sees it, against real QEMU (TCG here) through the API and a real
// node agent: pause freezes it, save to disk brings back its shell exactly, clones get their own
// identity (hostname, SMBIOS serial, MAC on the NIC), a branch of the snapshot tree goes back to
// either side, the source's revert leaves its linked clone whole, more CPUs and an online disk grow
// reach the guest, and a platform admin's template from a stopped VM serves another tenant.
import { afterAll, beforeAll, describe, it, expect } from "vitest";
import { spawnSync } from "node:child_process";
import { readFileSync, rmSync } from "node:fs";
import { join } from "node:path";
import { IMAGES, agentFixture, guestDriver, privateImageDir, qemuSkipReason, startAgent, typeLine, until } from "./helpers.ts";

const TEMPLATE = join(IMAGES, "debian-shell", "template.json");
const skipReason = qemuSkipReason(TEMPLATE);
if (skipReason) console.warn(`[skip] QEMU guest-view lifecycle tests: ${skipReason}`);

describe.skipIf(skipReason !== null)("VM lifecycle with QEMU, seen from the guest", () => {
  const f = agentFixture(TEMPLATE, "vdi-guest-");
  // One booted VM ("gv-1") for every feature below, in order; each \`it\` names its feature, so the
  // first failure says which one broke (later ones may then fail for the same reason).
  let images = "";
  let c: ReturnType<typeof f.api.caller>;
  let g: ReturnType<typeof guestDriver>;
  let vmId = "";
  let myMac = "";
  let a: { operationId: string; snapshotId: string };
  let b: { operationId: string; snapshotId: string };
  let cs: { operationId: string; snapshotId: string };
  let lc: { operationId: string; vmId: string };
  let fc: { operationId: string; vmId: string };
  const identity = async (id: string, tag: string) => {
    await g.say(id, `echo ${tag}-$(hostname)/$(cat /sys/class/dmi/id/product_serial)/$(cat /sys/class/net/eth0/address)/END`, `${tag}-`);
    const m = new RegExp(`${tag}-([^/]*)/([^/]*)/([^/]*)/END`).exec(g.serial(id));
    return { hostname: m?.[1], serial: m?.[2], mac: m?.[3] };
  };

  beforeAll(async () => {
    const { api, server, dataDir } = f;
    images = privateImageDir(IMAGES, "debian-shell");
    const admin = await api.makeUser("guestview", "admin");
    c = api.caller(admin);
    f.agent = startAgent(server.url, dataDir, { VDI_IMAGE_DIR: images });
    await until("node up", async () => (await c.node.list()).find((n) => n.up && n.engines.qemu?.available));
    g = guestDriver(c, dataDir);
  }, 120_000);
  afterAll(() => { if (images) rmSync(images, { recursive: true, force: true }); });

  it("gives a new VM its identity inside: hostname, SMBIOS serial (the VM id), the MAC on its NIC", async () => {
    const { opDone, ready } = g;
    const created = await c.vm.create({ templateId: f.templateId, name: "gv-1" });
    vmId = created.vmId;
    await opDone(created.operationId);
    await ready(vmId, "gv-1");
    myMac = (await c.vm.get({ vmId })).macAddress;
    expect(await identity(vmId, "SRC")).toEqual({ hostname: "gv-1", serial: vmId, mac: myMac });
  }, 180_000);

  it("pauses: the guest's clock loop prints nothing while paused, and goes on after resume", async () => {
    const { serial, opDone, say } = g;
    await typeLine((await c.console.open({ vmId })).url, "(i=0; while :; do i=$((i+1)); echo TICK$i > /dev/ttyS0; sleep 1; done) &");
    await until("ticking", () => serial(vmId).includes("TICK3"), 30_000);
    await opDone((await c.vm.pause({ vmId })).operationId);
    expect((await c.vm.get({ vmId })).state).toBe("paused");
    const ticks = () => (serial(vmId).match(/TICK\d+/g) ?? []).length;
    const whilePaused = ticks();
    await new Promise((r) => setTimeout(r, 3000));
    expect(ticks()).toBe(whilePaused);
    await opDone((await c.vm.resume({ vmId })).operationId);
    await until("ticking again", () => ticks() > whilePaused + 1, 30_000);
    await say(vmId, "kill $!; echo STOPPED-TICKS", "STOPPED-TICKS");
  }, 120_000);

  it("saves to disk and back: the process ends, the same shell returns with its variable, with progress on the way", async () => {
    const { vmDir, serial, opDone, say } = g;
    await say(vmId, "KEEP=kept-$$; echo SET-$KEEP", "SET-");
    const kept = /SET-(kept-\d+)/.exec(serial(vmId))![1];
    const pidBefore = readFileSync(join(vmDir(vmId), "engine.pid"), "utf8");
    await opDone((await c.vm.save({ vmId })).operationId);
    expect((await c.vm.get({ vmId })).state).toBe("saved");
    const back = await c.vm.start({ vmId });
    // The resume reads the state file: its progress is reported on the way, not only at the end.
    const seen = new Set<number>();
    await until("resumed", async () => {
      const o = await c.operation.get({ operationId: back.operationId });
      seen.add(o.progress);
      return o.status !== "pending" && o.status !== "running" ? o : null;
    }, 60_000);
    expect((await c.operation.get({ operationId: back.operationId })).status).toBe("succeeded");
    expect(readFileSync(join(vmDir(vmId), "engine.pid"), "utf8")).not.toBe(pidBefore);
    await say(vmId, "echo BACK-$KEEP", `BACK-${kept}`);
    expect(serial(vmId).split("VDI-GUEST-READY").length - 1).toBe(1);  // not booted again
    console.log(`resume from a saved state: progress seen ${[...seen].sort((x, y) => x - y).join(", ")}`);
  }, 180_000);

  it("branches the snapshot tree: back to A, C becomes B's sibling; B and A each bring back their own disk and memory", async () => {
    const { opDone, say } = g;
    await say(vmId, "echo a > /mnt/disk/m; sync; M=ma; echo W-$(cat /mnt/disk/m)", "W-a");
    a = await c.snapshot.create({ vmId, name: "A", withRam: true });
    await opDone(a.operationId);
    await say(vmId, "echo b > /mnt/disk/m; sync; M=mb; echo W-$(cat /mnt/disk/m)", "W-b");
    b = await c.snapshot.create({ vmId, name: "B", withRam: true });
    await opDone(b.operationId);
    await opDone((await c.snapshot.restore({ snapshotId: a.snapshotId })).operationId);
    await say(vmId, "echo AT-A-$(cat /mnt/disk/m)-$M", "AT-A-a-ma");
    await say(vmId, "echo c > /mnt/disk/m; sync; M=mc; echo W-$(cat /mnt/disk/m)", "W-c");
    cs = await c.snapshot.create({ vmId, name: "C", withRam: true });
    await opDone(cs.operationId);
    let tree = await c.snapshot.list({ vmId });
    const parent = Object.fromEntries(tree.snapshots.map((s) => [s.name, s.parentId]));
    expect(parent).toEqual({ A: null, B: a.snapshotId, C: a.snapshotId });
    expect(tree.currentSnapshotId).toBe(cs.snapshotId);
    await opDone((await c.snapshot.restore({ snapshotId: b.snapshotId })).operationId);
    await say(vmId, "echo AT-B-$(cat /mnt/disk/m)-$M", "AT-B-b-mb");
    tree = await c.snapshot.list({ vmId });
    expect(tree.currentSnapshotId).toBe(b.snapshotId);
  }, 240_000);

  it("gives clones of a snapshot their own hostname, SMBIOS serial and MAC, seen inside each", async () => {
    const { opDone, ready, say } = g;
    lc = await c.snapshot.clone({ snapshotId: b.snapshotId, name: "gv-linked", mode: "linked" });
    await opDone(lc.operationId);
    await ready(lc.vmId, "gv-linked");
    fc = await c.snapshot.clone({ snapshotId: b.snapshotId, name: "gv-full", mode: "full" });
    await opDone(fc.operationId);
    await ready(fc.vmId, "gv-full");
    for (const [clone, name] of [[lc.vmId, "gv-linked"], [fc.vmId, "gv-full"]] as const) {
      const id = await identity(clone, "CLONE");
      expect(id).toEqual({ hostname: name, serial: clone, mac: (await c.vm.get({ vmId: clone })).macAddress });
      expect(id.mac).not.toBe(myMac);
      await say(clone, `echo DATA-${name}-$(cat /mnt/disk/m)`, `DATA-${name}-b`);
    }
  }, 300_000);

  it("reverts the source while its linked clone runs on the snapshot's layer: the clone is unharmed", async () => {
    const { serial, opDone, say, ready } = g;
    await opDone((await c.snapshot.restore({ snapshotId: cs.snapshotId })).operationId);
    await say(vmId, "echo AT-C-$(cat /mnt/disk/m)-$M", "AT-C-c-mc");
    await say(lc.vmId, "echo 'clone-own' > /mnt/disk/n; sync; echo LC-$(cat /mnt/disk/m)-$(cat /mnt/disk/n)", "LC-b-clone-own");
    await opDone((await c.vm.stop({ vmId: lc.vmId })).operationId);
    const lcMark = serial(lc.vmId).length;
    await opDone((await c.vm.start({ vmId: lc.vmId })).operationId);
    await ready(lc.vmId, "gv-linked", lcMark);
    await say(lc.vmId, "echo LC2-$(cat /mnt/disk/m)-$(cat /mnt/disk/n)", "LC2-b-clone-own");
    for (const clone of [lc.vmId, fc.vmId]) await opDone((await c.vm.delete({ vmId: clone })).operationId);
  }, 240_000);

  it("grows the disk while the VM runs (the guest sees it at once), and boots with more CPUs once stopped", async () => {
    const { serial, opDone, say, ready } = g;
    await opDone((await c.vm.resize({ vmId, diskGiB: 3 })).operationId);
    await say(vmId, "echo SIZE-$(cat /sys/block/vda/size)", "SIZE-6291456");
    await opDone((await c.vm.stop({ vmId })).operationId);
    await opDone((await c.vm.resize({ vmId, cpus: 2 })).operationId);
    const bootMark = serial(vmId).length;
    await opDone((await c.vm.start({ vmId })).operationId);
    await ready(vmId, "gv-1", bootMark);
    await say(vmId, "echo CPUS-$(nproc)-$(cat /sys/block/vda/size)", "CPUS-2-6291456");
  }, 180_000);

  it("deletes every snapshot of a running VM, merging layers: the chain ends as the active layer on the base, the data all there", async () => {
    const { vmDir, opDone, say } = g;
    // A layer only the active one builds on is merged into it (QEMU's block-stream), one another
    // snapshot needs stays until that one goes.
    const chainOf = () => {
      const active = readFileSync(join(vmDir(vmId), "active-layer"), "utf8").trim();
      const out = spawnSync("qemu-img", ["info", "-U", "--backing-chain", "--output=json", join(vmDir(vmId), active)]).stdout.toString();
      return (JSON.parse(out) as { filename: string }[]).map((x) => x.filename);
    };
    const deepest = chainOf().length;
    for (const snap of [cs, b, a]) await opDone((await c.snapshot.delete({ snapshotId: snap.snapshotId })).operationId);
    expect((await c.snapshot.list({ vmId })).snapshots).toEqual([]);
    const merged = chainOf();
    console.log(`chain after deleting every snapshot: ${merged.length} files (was ${deepest})`);
    expect(merged).toHaveLength(2);
    expect(merged[1]).toContain("debian-shell");
    await say(vmId, "echo MERGED-$(cat /mnt/disk/m)-$(cat /mnt/disk/README | head -c 14)", "MERGED-c-This disk belo");
  }, 180_000);

  it("makes a global template from a stopped VM: a user of another tenant makes a VM from it and finds the disk's contents", async () => {
    const { serial, opDone, ready } = g;
    const api = f.api;
    await opDone((await c.vm.stop({ vmId })).operationId);
    const tp = await c.template.fromVm({ vmId, title: "GV global", scope: "global" });
    await opDone(tp.operationId, 180_000);
    const other = api.caller(await api.makeUser("elsewhere"));
    const tpl = await until("global template visible to another tenant", async () => (await other.template.list()).find((t) => t.title === "GV global"));
    await until("node reports the image", async () => (await api.db.node.findFirst())!.capabilities.includes(`tpl-${tp.templateId}`));
    const theirs = await other.vm.create({ templateId: tpl.id, name: "from-global" });
    const theirOp = await until("their create", async () => {
      const o = await other.operation.get({ operationId: theirs.operationId });
      return o.status === "succeeded" || o.status === "failed" ? o : null;
    });
    expect(theirOp.status).toBe("succeeded");
    await ready(theirs.vmId, "from-global");
    await typeLine((await other.console.open({ vmId: theirs.vmId })).url, "echo THEIRS-$(cat /mnt/disk/m) > /dev/ttyS0");
    await until("their VM reads the template's disk", () => serial(theirs.vmId).includes("THEIRS-c"), 30_000);
  }, 300_000);
});
