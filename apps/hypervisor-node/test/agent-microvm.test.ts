// The node agent with our own VMM (engine "vdi-vmm"): a microVM desktop is created, its console
// speaks RFB through the gateway, keys typed there reach the guest, it survives kill -9 of the
// agent, and a guest that crashes stops with the VMM's reason.
import { beforeAll, describe, it, expect } from "vitest";
import { existsSync, readdirSync, readFileSync, statSync } from "node:fs";
import { join } from "node:path";
import { probeKvm, vmmPaths } from "../src/native.ts";
import { IMAGES, agentFixture, keyEvents, pidAlive, rfbHandshake, startAgent, until } from "./helpers.ts";

const TEMPLATE = join(IMAGES, "microvm-desktop", "template.json");
const kvm = probeKvm();
const skipReason = !kvm.usable ? kvm.reason : !existsSync(vmmPaths().vmm) ? `vdi-vmm not built (${vmmPaths().vmm})`
  : !existsSync(TEMPLATE) ? `microVM template not built (${TEMPLATE})` : null;
if (skipReason) console.warn(`[skip] node agent + microVM tests: ${skipReason}`);


describe.skipIf(skipReason !== null)("node agent with the microVM engine", () => {
  const f = agentFixture(TEMPLATE, "vdi-mvm-");
  // One microVM shared by the features below, in order (each names what it checks).
  let vmId = "";
  let pid = 0;
  let serial = "";
  let snap: { snapshotId: string; operationId: string };
  const caller = () => f.api.caller(f.alice);

  beforeAll(async () => {
    const { api, server, alice, templateId, dataDir } = f;
    f.agent = startAgent(server.url, dataDir, { VDI_NODE_NAME: "mvm" });
    await until("microVM engine reported", async () => (await api.caller(alice).node.list()).find((n) => n.up && n.engines["vdi-vmm"]?.available));
    const t0 = Date.now();
    ({ vmId } = await api.caller(alice).vm.create({ templateId, name: "desk-1" }));
    await until("microVM running", async () => (await api.caller(alice).vm.get({ vmId })).state === "running", 30_000);
    serial = join(dataDir, "vms", vmId, "serial.log");
    await until("desktop ready", () => existsSync(serial) && readFileSync(serial, "utf8").includes("desktop ready"), 30_000);
    console.log(`microVM create → desktop ready: ${Date.now() - t0} ms`);
    pid = Number(readFileSync(join(dataDir, "vms", vmId, "engine.pid"), "utf8"));
  }, 60_000);

  it.skipIf(process.getuid?.() !== 0)("runs the VMM as the VM's own unprivileged user, with no_new_privs and no supplementary groups", () => {
    const st = Object.fromEntries(readFileSync(`/proc/${pid}/status`, "utf8").split("\n").map((l) => l.split(/:\s*/, 2)));
    const [ruid, euid, suid] = st.Uid!.split(/\s+/).map(Number);
    expect(ruid).toBeGreaterThanOrEqual(640_000);
    expect([euid, suid]).toEqual([ruid, ruid]);
    expect(Number(st.Gid!.split(/\s+/)[0])).toBe(ruid);
    expect(st.Groups ?? "").toBe("");
    expect(st.NoNewPrivs).toBe("1");
    expect(st.CapEff).toBe("0000000000000000");
    expect(readFileSync(join(f.dataDir, "vms", vmId, "engine-user"), "utf8").trim()).toBe(String(ruid));
  });

  it("serves the desktop's console through the gateway, and keys typed there reach the guest", async () => {
    const c = await rfbHandshake((await caller().console.open({ vmId })).url);
    expect([c.width, c.height, c.name]).toEqual([1024, 768, "vdi microvm"]);
    c.ws.send(keyEvents("Hello microVM!\n"));
    await until("typed line in the guest", () => readFileSync(serial, "utf8").includes("typed: Hello microVM!"), 20_000);
    c.ws.close();
  }, 60_000);

  it("keeps the microVM across kill -9 of the agent, and the new agent re-attaches its console", async () => {
    const { api, server, alice, dataDir } = f;
    f.agent!.kill("SIGKILL");
    await new Promise((r) => f.agent!.once("exit", r));
    expect(pidAlive(pid)).toBe(true);
    const before = (await api.db.node.findFirst())!.consoleUrl;
    f.agent = startAgent(server.url, dataDir, { VDI_NODE_NAME: "mvm" });
    // The new agent listens on a new port; wait until it has reported it and the VM again.
    await until("agent back", async () => (await api.db.node.findFirst())!.consoleUrl !== before && (await api.caller(alice).vm.get({ vmId })).state === "running");
    const again = await rfbHandshake((await api.caller(alice).console.open({ vmId })).url);
    again.ws.send(keyEvents("after restart\n"));
    await until("typing after re-attach", () => readFileSync(serial, "utf8").includes("typed: after restart"), 20_000);
    again.ws.close();
    expect(pidAlive(pid)).toBe(true);
  }, 60_000);

  it("pauses: the vCPU stops and keys wait in the controller; resume delivers them", async () => {
    await caller().vm.pause({ vmId });
    await until("paused", async () => (await caller().vm.get({ vmId })).state === "paused", 20_000);
    const frozen = await rfbHandshake((await caller().console.open({ vmId })).url);
    frozen.ws.send(keyEvents("x\n"));
    await new Promise((r) => setTimeout(r, 500));
    expect(readFileSync(serial, "utf8")).not.toContain("typed: x");
    await caller().vm.resume({ vmId });
    await until("typing after resume", () => readFileSync(serial, "utf8").includes("typed: x"), 20_000);
    frozen.ws.close();
  }, 60_000);

  it("snapshots with a half-typed line and restores it: the half line is back", async () => {
    const c3 = await rfbHandshake((await caller().console.open({ vmId })).url);
    c3.ws.send(keyEvents("abc"));
    await new Promise((r) => setTimeout(r, 300));
    snap = await caller().snapshot.create({ vmId, name: "half line" });
    const ready = await until("snapshot ready", async () => (await caller().snapshot.list({ vmId })).snapshots.find((x) => x.status === "ready"), 30_000);
    expect(ready).toMatchObject({ id: snap.snapshotId, name: "half line", includesRam: true });
    expect(ready.sizeBytes).toBeGreaterThan(0);
    expect(await caller().operation.get({ operationId: snap.operationId })).toMatchObject({ status: "succeeded" });
    await expect(caller().snapshot.create({ vmId, name: "half line" })).rejects.toThrow(/already has a snapshot named "half line"/);
    c3.ws.send(keyEvents("def\n"));
    await until("line finished", () => readFileSync(serial, "utf8").includes("typed: abcdef"), 20_000);
    c3.ws.close();
    const restore = await caller().snapshot.restore({ snapshotId: snap.snapshotId });
    await until("restored", async () => (await caller().operation.get({ operationId: restore.operationId })).status === "succeeded", 30_000);
    const c4 = await rfbHandshake((await caller().console.open({ vmId })).url);
    c4.ws.send(keyEvents("\n"));
    await until("the half line is back", () => readFileSync(serial, "utf8").includes("typed: abc\n"), 20_000);
    c4.ws.close();
  }, 90_000);

  it.skipIf(process.getuid?.() !== 0)("takes the snapshot's files back from the engine: the agent's, not writable by the VM's user", () => {
    const dir = join(f.dataDir, "vms", vmId, "snapshots", snap.snapshotId);
    for (const p of [dir, ...readdirSync(dir).map((x) => join(dir, x))]) {
      const st = statSync(p);
      expect(st.uid).toBe(0);
      if (st.isFile()) expect(st.mode & 0o022).toBe(0);
    }
  });

  it("clones from the snapshot: a new VM on the same node starts with the same half line", async () => {
    const clone = await caller().snapshot.clone({ snapshotId: snap.snapshotId, name: "desk-clone" });
    await until("clone running", async () => (await caller().vm.get({ vmId: clone.vmId })).state === "running", 30_000);
    const cc = await rfbHandshake((await caller().console.open({ vmId: clone.vmId })).url);
    cc.ws.send(keyEvents("\n"));
    const cloneSerial = join(f.dataDir, "vms", clone.vmId, "serial.log");
    await until("the clone has the half line", () => existsSync(cloneSerial) && readFileSync(cloneSerial, "utf8").includes("typed: abc\n"), 20_000);
    cc.ws.close();
    await caller().vm.delete({ vmId: clone.vmId });
    await until("clone deleted", async () => (await caller().vm.list()).length === 1);
  }, 60_000);

  it("saves to disk (hibernate): the process ends, the state is on disk; start brings a half line back", async () => {
    const { dataDir } = f;
    const c5 = await rfbHandshake((await caller().console.open({ vmId })).url);
    c5.ws.send(keyEvents("ghi"));
    await new Promise((r) => setTimeout(r, 300));
    c5.ws.close();
    const vmmPid = Number(readFileSync(join(dataDir, "vms", vmId, "engine.pid"), "utf8"));
    await caller().vm.save({ vmId });
    await until("saved", async () => (await caller().vm.get({ vmId })).state === "saved", 30_000);
    expect(pidAlive(vmmPid)).toBe(false);
    expect(existsSync(join(dataDir, "vms", vmId, "saved", "state.bin"))).toBe(true);
    await caller().vm.start({ vmId });
    await until("running from the saved state", async () => (await caller().vm.get({ vmId })).state === "running", 30_000);
    expect(existsSync(join(dataDir, "vms", vmId, "saved"))).toBe(false);
    const c6 = await rfbHandshake((await caller().console.open({ vmId })).url);
    c6.ws.send(keyEvents("\n"));
    await until("the saved half line is back", () => readFileSync(serial, "utf8").includes("typed: ghi\n"), 20_000);
    c6.ws.close();
  }, 90_000);

  it("reboots into a fresh boot, then deletes the VM with its folder", async () => {
    await caller().vm.reboot({ vmId });
    await until("rebooted (a fresh boot prints desktop ready twice)", () => readFileSync(serial, "utf8").split("desktop ready").length - 1 >= 2, 30_000);
    expect(pidAlive(pid)).toBe(false);

    const del = await caller().vm.delete({ vmId });
    await until("deleted", async () => (await caller().vm.list()).length === 0);
    expect(await caller().operation.get({ operationId: del.operationId })).toMatchObject({ status: "succeeded" });
    expect(existsSync(join(f.dataDir, "vms", vmId))).toBe(false);
  }, 60_000);
});
