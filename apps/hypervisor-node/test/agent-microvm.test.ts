// The node agent with our own VMM (engine "vdi-vmm"): a microVM desktop is created, its console
// speaks RFB through the gateway, keys typed there reach the guest, it survives kill -9 of the
// agent, and a guest that crashes stops with the VMM's reason.
import { describe, it, expect } from "vitest";
import { existsSync, readFileSync } from "node:fs";
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

  it("runs a microVM desktop: console, typing, kill -9 re-attach, reboot, delete", async () => {
    const { api, server, alice, templateId, dataDir } = f;
    f.agent = startAgent(server.url, dataDir, { VDI_NODE_NAME: "mvm" });
    await until("microVM engine reported", async () => (await api.caller(alice).node.list()).find((n) => n.up && n.engines["vdi-vmm"]?.available));
    const t0 = Date.now();
    const { vmId } = await api.caller(alice).vm.create({ templateId, name: "desk-1" });
    await until("microVM running", async () => (await api.caller(alice).vm.get({ vmId })).state === "running", 30_000);
    const serial = join(dataDir, "vms", vmId, "serial.log");
    await until("desktop ready", () => existsSync(serial) && readFileSync(serial, "utf8").includes("desktop ready"), 30_000);
    console.log(`microVM create → desktop ready: ${Date.now() - t0} ms`);

    const c = await rfbHandshake((await api.caller(alice).console.open({ vmId })).url);
    expect([c.width, c.height, c.name]).toEqual([1024, 768, "vdi microvm"]);
    c.ws.send(keyEvents("Hello microVM!\n"));
    await until("typed line in the guest", () => readFileSync(serial, "utf8").includes("typed: Hello microVM!"), 20_000);
    c.ws.close();

    const pid = Number(readFileSync(join(dataDir, "vms", vmId, "engine.pid"), "utf8"));
    f.agent.kill("SIGKILL");
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

    // Pause: the vCPU stops, keys wait in the controller; resume: they arrive.
    await api.caller(alice).vm.pause({ vmId });
    await until("paused", async () => (await api.caller(alice).vm.get({ vmId })).state === "paused", 20_000);
    const frozen = await rfbHandshake((await api.caller(alice).console.open({ vmId })).url);
    frozen.ws.send(keyEvents("x\n"));
    await new Promise((r) => setTimeout(r, 500));
    expect(readFileSync(serial, "utf8")).not.toContain("typed: x");
    await api.caller(alice).vm.resume({ vmId });
    await until("typing after resume", () => readFileSync(serial, "utf8").includes("typed: x"), 20_000);
    frozen.ws.close();

    // Snapshot with a half-typed line; finish the line; restore: the half line is back.
    const c3 = await rfbHandshake((await api.caller(alice).console.open({ vmId })).url);
    c3.ws.send(keyEvents("abc"));
    await new Promise((r) => setTimeout(r, 300));
    const snap = await api.caller(alice).snapshot.create({ vmId, name: "half line" });
    const ready = await until("snapshot ready", async () => (await api.caller(alice).snapshot.list({ vmId })).snapshots.find((x) => x.status === "ready"), 30_000);
    expect(ready).toMatchObject({ id: snap.snapshotId, name: "half line", includesRam: true });
    expect(ready.sizeBytes).toBeGreaterThan(0);
    expect(await api.caller(alice).operation.get({ operationId: snap.operationId })).toMatchObject({ status: "succeeded" });
    await expect(api.caller(alice).snapshot.create({ vmId, name: "half line" })).rejects.toThrow(/already has a snapshot named "half line"/);
    c3.ws.send(keyEvents("def\n"));
    await until("line finished", () => readFileSync(serial, "utf8").includes("typed: abcdef"), 20_000);
    c3.ws.close();
    const restore = await api.caller(alice).snapshot.restore({ snapshotId: snap.snapshotId });
    await until("restored", async () => (await api.caller(alice).operation.get({ operationId: restore.operationId })).status === "succeeded", 30_000);
    const c4 = await rfbHandshake((await api.caller(alice).console.open({ vmId })).url);
    c4.ws.send(keyEvents("\n"));
    await until("the half line is back", () => readFileSync(serial, "utf8").includes("typed: abc\n"), 20_000);
    c4.ws.close();

    // Clone from the snapshot: a new VM, same node, starts with the same half line.
    const clone = await api.caller(alice).snapshot.clone({ snapshotId: snap.snapshotId, name: "desk-clone" });
    await until("clone running", async () => (await api.caller(alice).vm.get({ vmId: clone.vmId })).state === "running", 30_000);
    const cc = await rfbHandshake((await api.caller(alice).console.open({ vmId: clone.vmId })).url);
    cc.ws.send(keyEvents("\n"));
    const cloneSerial = join(dataDir, "vms", clone.vmId, "serial.log");
    await until("the clone has the half line", () => existsSync(cloneSerial) && readFileSync(cloneSerial, "utf8").includes("typed: abc\n"), 20_000);
    cc.ws.close();
    await api.caller(alice).vm.delete({ vmId: clone.vmId });
    await until("clone deleted", async () => (await api.caller(alice).vm.list()).length === 1);

    // Save to disk (hibernate): the process ends, the state is on disk; start: a half line survives.
    const c5 = await rfbHandshake((await api.caller(alice).console.open({ vmId })).url);
    c5.ws.send(keyEvents("ghi"));
    await new Promise((r) => setTimeout(r, 300));
    c5.ws.close();
    const vmmPid = Number(readFileSync(join(dataDir, "vms", vmId, "engine.pid"), "utf8"));
    await api.caller(alice).vm.save({ vmId });
    await until("saved", async () => (await api.caller(alice).vm.get({ vmId })).state === "saved", 30_000);
    expect(pidAlive(vmmPid)).toBe(false);
    expect(existsSync(join(dataDir, "vms", vmId, "saved", "state.bin"))).toBe(true);
    await api.caller(alice).vm.start({ vmId });
    await until("running from the saved state", async () => (await api.caller(alice).vm.get({ vmId })).state === "running", 30_000);
    expect(existsSync(join(dataDir, "vms", vmId, "saved"))).toBe(false);
    const c6 = await rfbHandshake((await api.caller(alice).console.open({ vmId })).url);
    c6.ws.send(keyEvents("\n"));
    await until("the saved half line is back", () => readFileSync(serial, "utf8").includes("typed: ghi\n"), 20_000);
    c6.ws.close();

    await api.caller(alice).vm.reboot({ vmId });
    await until("rebooted (a fresh boot prints desktop ready twice)", () => readFileSync(serial, "utf8").split("desktop ready").length - 1 >= 2, 30_000);
    expect(pidAlive(pid)).toBe(false);

    const del = await api.caller(alice).vm.delete({ vmId });
    await until("deleted", async () => (await api.caller(alice).vm.list()).length === 0);
    expect(await api.caller(alice).operation.get({ operationId: del.operationId })).toMatchObject({ status: "succeeded" });
    expect(existsSync(join(dataDir, "vms", vmId))).toBe(false);
  }, 180_000);
});
