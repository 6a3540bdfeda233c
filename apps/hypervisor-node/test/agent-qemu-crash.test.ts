// kill -9 in the middle of each long operation (the agent, or QEMU itself), at named steps the
// agent exposes for tests (VDI_AGENT_FAULT). After a restart: the VM and its earlier snapshots
// are intact and usable, the operation is marked failed with its reason (deletes are finished
// instead), and no temp file or unreferenced disk layer is left.
import { afterAll, beforeAll, describe, it, expect } from "vitest";
import type { ChildProcess } from "node:child_process";
import { spawnSync } from "node:child_process";
import { existsSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { join } from "node:path";
import { IMAGES, agentFixture, privateImageDir, startAgent, typeLine, until } from "./helpers.ts";

const TEMPLATE = join(IMAGES, "debian-shell", "template.json");
const qemuThere = spawnSync("qemu-system-x86_64", ["--version"]).status === 0;
const skipReason = !qemuThere ? "qemu-system-x86_64 is not installed (scripts/setup.sh installs it)"
  : !existsSync(TEMPLATE) ? `guest template not built (${TEMPLATE}; scripts/build-images.sh builds it)` : null;
if (skipReason) console.warn(`[skip] QEMU crash tests: ${skipReason}`);

const exited = (p: ChildProcess, ms = 60_000) => new Promise<string>((resolve, reject) => {
  if (p.exitCode !== null || p.signalCode !== null) return resolve(String(p.signalCode ?? p.exitCode));
  const t = setTimeout(() => reject(new Error("the agent did not die at the fault point")), ms);
  p.once("exit", (code, sig) => { clearTimeout(t); resolve(String(sig ?? code)); });
});

describe.skipIf(skipReason !== null)("kill -9 during operations (QEMU)", () => {
  const f = agentFixture(TEMPLATE, "vdi-crash-");
  // One VM shared by the faults below, in order; each names the step it interrupts.
  const c = () => f.api.caller(f.alice);
  let images = "";
  let vmId = "";
  let base: { snapshotId: string; operationId: string };
  const agent = (fault?: string) => { f.agent = startAgent(f.server.url, f.dataDir, { VDI_IMAGE_DIR: images, ...(fault ? { VDI_AGENT_FAULT: fault } : {}) }); return f.agent; };
  const vmDir = (id: string) => join(f.dataDir, "vms", id);
  const serial = (id: string) => (existsSync(join(vmDir(id), "serial.log")) ? readFileSync(join(vmDir(id), "serial.log"), "utf8") : "");
  const opEnd = (operationId: string) => until(`operation ${operationId} ends`, async () => {
    const o = await c().operation.get({ operationId });
    return o.status === "succeeded" || o.status === "failed" ? o : null;
  }, 120_000);
  const say = async (id: string, cmd: string, text: string) => {
    await typeLine((await c().console.open({ vmId: id })).url, `${cmd} > /dev/ttyS0`);
    await until(`guest says ${text}`, () => serial(id).includes(text), 30_000);
  };
  /** Nothing half-made: no temp files, every layer reachable from the active one or a snapshot. */
  const noOrphans = (id: string) => {
    const dir = vmDir(id);
    const names = readdirSync(dir);
    expect(names.filter((n) => n.includes(".tmp"))).toEqual([]);
    const snaps = existsSync(join(dir, "snapshots")) ? readdirSync(join(dir, "snapshots")) : [];
    expect(snaps.filter((n) => n.includes(".tmp"))).toEqual([]);
    const roots = [readFileSync(join(dir, "active-layer"), "utf8").trim(), ...snaps.map((s) => JSON.parse(readFileSync(join(dir, "snapshots", s, "meta.json"), "utf8")).layer as string)];
    const needed = new Set<string>();
    for (const r of roots) {
      const out = spawnSync("qemu-img", ["info", "-U", "--backing-chain", "--output=json", join(dir, r)]).stdout.toString();
      for (const l of JSON.parse(out) as { filename: string }[]) needed.add(l.filename.split("/").pop()!);
    }
    expect(names.filter((n) => n.endsWith(".qcow2") && !needed.has(n))).toEqual([]);
  };
  /** Runs `start` with the agent set to die at `fault`, then restarts it cleanly. */
  const crashAt = async <T extends { operationId: string }>(fault: string, start: () => Promise<T>) => {
    f.agent!.kill("SIGKILL");
    await exited(f.agent!);
    const a = agent(fault);
    await until("faulty agent up", async () => (await c().node.list()).find((n) => n.up));
    const r = await start();
    if (!fault.endsWith(":engine")) {
      expect(await exited(a)).toBe("SIGKILL");
      agent();
    }
    return { ...r, op: await opEnd(r.operationId) };
  };
  /** Boots the stopped VM and waits for its shell. */
  const bootAgain = async (what: string) => {
    const mark = serial(vmId).length;
    expect((await opEnd((await c().vm.start({ vmId })).operationId)).status).toBe("succeeded");
    await until(what, () => serial(vmId).slice(mark).includes("VDI-GUEST-READY crash-1"), 90_000);
  };

  beforeAll(async () => {
    // Templates made here are written into an image folder of this test's own.
    images = privateImageDir(IMAGES, "debian-shell");
    agent();
    await until("node up", async () => (await c().node.list()).find((n) => n.up && n.engines.qemu?.available));
    const made = await c().vm.create({ templateId: f.templateId, name: "crash-1" });
    vmId = made.vmId;
    expect((await opEnd(made.operationId)).status).toBe("succeeded");
    await until("guest ready", () => serial(vmId).includes("VDI-GUEST-READY crash-1"), 90_000);
    await say(vmId, "echo one > /mnt/disk/m; sync; echo MARK-$(cat /mnt/disk/m)", "MARK-one");
    base = await c().snapshot.create({ vmId, name: "base", withRam: true });
    expect((await opEnd(base.operationId)).status).toBe("succeeded");
  }, 240_000);
  afterAll(() => { if (images) rmSync(images, { recursive: true, force: true }); });

  it("the agent dies in a live snapshot after QEMU switched to the new layer: failed, the VM runs on, not paused", async () => {
    const s1 = await crashAt("snapshot:after-layer-switch", () => c().snapshot.create({ vmId, name: "interrupted", withRam: true }));
    expect(s1.op).toMatchObject({ status: "failed", error: expect.stringMatching(/Interrupted: the node agent restarted during the snapshot/) });
    expect((await c().snapshot.list({ vmId })).snapshots.map((s) => s.name)).toEqual(["base"]);
    await until("running", async () => (await c().vm.get({ vmId })).state === "running");
    await say(vmId, "echo ALIVE1-$(cat /mnt/disk/m)", "ALIVE1-one");  // not left paused
    noOrphans(vmId);
    // From here the disk says "two": a later check that reads "one" would mean a silent revert.
    await say(vmId, "echo two > /mnt/disk/m; sync; echo MARK-$(cat /mnt/disk/m)", "MARK-two");
  }, 240_000);

  it("the agent dies while QEMU writes the snapshot's memory: the writer is ended, the half state goes, the VM runs on", async () => {
    const s1b = await crashAt("snapshot:during-memory", () => c().snapshot.create({ vmId, name: "mid-memory", withRam: true }));
    expect(s1b.op).toMatchObject({ status: "failed", error: expect.stringMatching(/Interrupted: the node agent restarted during the snapshot/) });
    expect((await c().snapshot.list({ vmId })).snapshots.map((s) => s.name)).toEqual(["base"]);
    await until("running", async () => (await c().vm.get({ vmId })).state === "running");
    await say(vmId, "echo ALIVE1B-$(cat /mnt/disk/m)", "ALIVE1B-two");
    noOrphans(vmId);
  }, 240_000);

  it("QEMU itself dies while it writes a snapshot's memory: failed, stopped, the disk intact and bootable", async () => {
    const s2 = await crashAt("snapshot:during-memory:engine", () => c().snapshot.create({ vmId, name: "qemu-died", withRam: true }));
    expect(s2.op.status).toBe("failed");
    expect((await c().snapshot.list({ vmId })).snapshots.map((s) => s.name)).toEqual(["base"]);
    await until("stopped", async () => (await c().vm.get({ vmId })).state === "stopped");
    f.agent!.kill("SIGKILL");
    await exited(f.agent!);
    agent();
    await until("node up", async () => (await c().node.list()).find((n) => n.up));
    noOrphans(vmId);
    await bootAgain("booted again");
    await say(vmId, "echo ALIVE2-$(cat /mnt/disk/m)", "ALIVE2-two");
  }, 300_000);

  it("the agent dies after a save wrote the RAM, before the file took its name: failed, running, no saved state", async () => {
    const sv = await crashAt("save:after-write", () => c().vm.save({ vmId }));
    expect(sv.op).toMatchObject({ status: "failed", error: expect.stringMatching(/Interrupted.*save/) });
    await until("running after the failed save", async () => { const v = await c().vm.get({ vmId }); return v.state === "running" && v.desiredState === "running"; });
    expect(existsSync(join(vmDir(vmId), "saved"))).toBe(false);
    await say(vmId, "echo ALIVE3-$(cat /mnt/disk/m)", "ALIVE3-two");
    noOrphans(vmId);
  }, 240_000);

  it("QEMU dies while it writes a save's state: no partial saved state kept, the disk intact and bootable", async () => {
    const sv2 = await crashAt("save:during-memory:engine", () => c().vm.save({ vmId }));
    expect(sv2.op.status).toBe("failed");
    await until("stopped after QEMU died in the save", async () => (await c().vm.get({ vmId })).state === "stopped");
    expect(readdirSync(vmDir(vmId)).filter((n) => n.startsWith("saved"))).toEqual([]);
    noOrphans(vmId);
    await bootAgain("booted after the failed save");
    await say(vmId, "echo ALIVE3B-$(cat /mnt/disk/m)", "ALIVE3B-two");
  }, 300_000);

  it("the agent dies in a full clone's copy and after a linked clone's disk: no clone row, folder or copy process left", async () => {
    for (const [fault, mode] of [["create:during-copy", "full"], ["create:after-clone-disk", "linked"]] as const) {
      const cl = await crashAt(fault, () => c().vm.clone({ vmId, snapshotId: base.snapshotId, name: `crash-${mode}`, mode }));
      expect(cl.op).toMatchObject({ status: "failed", error: expect.stringMatching(/Interrupted/) });
      await until("clone row dropped", async () => !(await c().vm.list()).some((v) => v.name === `crash-${mode}`));
      expect(existsSync(vmDir(cl.vmId))).toBe(false);
      expect(spawnSync("pgrep", ["-f", `qemu-img.*${cl.vmId}`]).status).toBe(1);
    }
    noOrphans(vmId);
  }, 300_000);

  it("the agent dies in a revert after QEMU stopped: the VM stopped, its disk as it was; the snapshot still reverts for real", async () => {
    const rv = await crashAt("restore:after-stop", () => c().snapshot.restore({ snapshotId: base.snapshotId }));
    expect(rv.op).toMatchObject({ status: "failed", error: expect.stringMatching(/Interrupted/) });
    await until("stopped after the failed revert", async () => { const v = await c().vm.get({ vmId }); return v.state === "stopped" && v.desiredState === "stopped"; });
    noOrphans(vmId);
    // The disk did not move: booted, it still says "two".
    await bootAgain("booted after the failed revert");
    await say(vmId, "echo ALIVE5-$(cat /mnt/disk/m)", "ALIVE5-two");
    // ... and the earlier snapshot is still usable: revert to it for real.
    expect((await opEnd((await c().snapshot.restore({ snapshotId: base.snapshotId })).operationId)).status).toBe("succeeded");
    await say(vmId, "echo ALIVE4-$(cat /mnt/disk/m)", "ALIVE4-one");
  }, 300_000);

  it("the agent dies while a template is written from a snapshot: no template row, no half image folder, no copy process", async () => {
    const tp = await crashAt("template:during-copy", () => c().template.fromVm({ vmId, snapshotId: base.snapshotId, title: "Crash tpl" }));
    expect(tp.op).toMatchObject({ status: "failed", error: expect.stringMatching(/Interrupted.*template/) });
    await until("template row dropped", async () => !(await c().template.list()).some((t) => t.title === "Crash tpl"));
    expect(readdirSync(images).filter((n) => n !== "debian-shell")).toEqual([]);
    expect(spawnSync("pgrep", ["-f", `qemu-img.*${vmId}`]).status).toBe(1);
    noOrphans(vmId);
  }, 240_000);

  it("finishes deletes after a restart (the user wanted the thing gone): a snapshot, then the VM", async () => {
    const extra = await c().snapshot.create({ vmId, name: "extra", withRam: false });
    expect((await opEnd(extra.operationId)).status).toBe("succeeded");
    const ds = await crashAt("snapshot-delete:before", () => c().snapshot.delete({ snapshotId: extra.snapshotId }));
    expect(ds.op.status).toBe("succeeded");
    expect(existsSync(join(vmDir(vmId), "snapshots", extra.snapshotId))).toBe(false);
    noOrphans(vmId);
    const dv = await crashAt("delete:after-stop", () => c().vm.delete({ vmId }));
    expect(dv.op.status).toBe("succeeded");
    await until("VM gone", async () => (await c().vm.list()).length === 0);
    expect(existsSync(vmDir(vmId))).toBe(false);
  }, 240_000);
});
