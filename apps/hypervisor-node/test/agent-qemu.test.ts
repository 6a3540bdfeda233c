// The node agent against real QEMU and a real API server: create, console, kill -9 and
// re-attach, stop/start/delete, and the failure paths (QEMU missing, disk not creatable).
import { describe, it, expect } from "vitest";
import { spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, rmSync, mkdirSync, copyFileSync, symlinkSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

import { IMAGES, agentFixture, openPortal, pidAlive, rfbHandshake, startAgent, until } from "./helpers.ts";
const TEMPLATE = join(IMAGES, "debian-shell", "template.json");
const qemuThere = spawnSync("qemu-system-x86_64", ["--version"]).status === 0;
const skipReason = !qemuThere ? "qemu-system-x86_64 is not installed (scripts/setup.sh installs it)"
  : !existsSync(TEMPLATE) ? `guest template not built (${TEMPLATE}; scripts/build-images.sh builds it)` : null;
if (skipReason) console.warn(`[skip] node agent + QEMU tests: ${skipReason}`);

describe.skipIf(skipReason !== null)("node agent with QEMU", () => {
  const f = agentFixture(TEMPLATE, "vdi-agent-");

  it("creates a running VM, serves its console, and keeps it across kill -9 of the agent", async () => {
    const { api, server, alice, templateId, dataDir } = f;
    f.agent = startAgent(server.url, dataDir);
    await until("node registered", async () => (await api.caller(alice).node.list()).find((n) => n.up && n.engines.qemu?.available));

    const t0 = Date.now();
    const { vmId, operationId } = await api.caller(alice).vm.create({ templateId, name: "itest-1" });
    await until("VM running", async () => (await api.caller(alice).vm.get({ vmId })).state === "running");
    expect(await api.caller(alice).operation.get({ operationId })).toMatchObject({ status: "succeeded", progress: 100 });
    const serial = join(dataDir, "vms", vmId, "serial.log");
    await until("guest ready on serial", () => existsSync(serial) && readFileSync(serial, "utf8").includes("VDI-GUEST-READY itest-1"));
    console.log(`create → guest shell ready: ${Date.now() - t0} ms`);

    const first = await rfbHandshake((await api.caller(alice).console.open({ vmId })).url);
    expect(first.width).toBeGreaterThan(0);
    expect(first.name).toBe("QEMU (itest-1)");
    first.ws.close();

    const qemuPid = Number(readFileSync(join(dataDir, "vms", vmId, "engine.pid"), "utf8"));
    f.agent.kill("SIGKILL");
    await new Promise((r) => f.agent!.once("exit", r));
    expect(pidAlive(qemuPid)).toBe(true);

    const before = (await api.db.node.findFirst())!.consoleUrl;
    f.agent = startAgent(server.url, dataDir);
    // The restarted agent (on a new port) re-attaches to the same QEMU; the portal still shows it running.
    await until("agent back", async () => (await api.db.node.findFirst())!.consoleUrl !== before && (await api.caller(alice).vm.get({ vmId })).state === "running");
    expect(pidAlive(qemuPid)).toBe(true);
    const again = await rfbHandshake((await api.caller(alice).console.open({ vmId })).url);
    expect(again.name).toBe("QEMU (itest-1)");
    again.ws.close();

    // Save to disk and back: the same boot goes on (no second "ready" line), QEMU was replaced.
    await api.caller(alice).vm.save({ vmId });
    await until("saved", async () => (await api.caller(alice).vm.get({ vmId })).state === "saved", 60_000);
    expect(pidAlive(qemuPid)).toBe(false);
    expect(existsSync(join(dataDir, "vms", vmId, "saved"))).toBe(true);
    await api.caller(alice).vm.start({ vmId });
    await until("running from the saved state", async () => (await api.caller(alice).vm.get({ vmId })).state === "running", 60_000);
    expect(existsSync(join(dataDir, "vms", vmId, "saved"))).toBe(false);
    const resumedPid = Number(readFileSync(join(dataDir, "vms", vmId, "engine.pid"), "utf8"));
    await new Promise((r) => setTimeout(r, 2000));
    expect(readFileSync(serial, "utf8").split("VDI-GUEST-READY").length - 1).toBe(1);
    const after = await rfbHandshake((await api.caller(alice).console.open({ vmId })).url);
    after.ws.close();

    // Stop, start, delete.
    await api.caller(alice).vm.stop({ vmId });
    await until("VM stopped", async () => (await api.caller(alice).vm.get({ vmId })).state === "stopped");
    expect(pidAlive(resumedPid)).toBe(false);
    await api.caller(alice).vm.start({ vmId });
    await until("VM running again", async () => (await api.caller(alice).vm.get({ vmId })).state === "running");
    const del = await api.caller(alice).vm.delete({ vmId });
    await until("VM deleted", async () => (await api.caller(alice).vm.list()).length === 0);
    expect(await api.caller(alice).operation.get({ operationId: del.operationId })).toMatchObject({ status: "succeeded" });
    expect(existsSync(join(dataDir, "vms", vmId))).toBe(false);
  }, 240_000);

  it("fails a create whose disk cannot be made, leaving no VM and no files", async () => {
    const { api, server, alice, templateId, dataDir } = f;
    // A template whose base disk is missing on the node.
    const broken = join(dataDir, "images-broken", "debian-shell");
    mkdirSync(broken, { recursive: true });
    copyFileSync(TEMPLATE, join(broken, "template.json"));
    for (const f of ["vmlinuz", "initrd.img"]) symlinkSync(join(IMAGES, "debian-shell", f), join(broken, f));
    f.agent?.kill("SIGKILL");
    await new Promise((r) => f.agent!.once("exit", r));
    const before = (await api.db.node.findFirst())!.consoleUrl;
    f.agent = startAgent(server.url, dataDir, { VDI_IMAGE_DIR: join(dataDir, "images-broken") });
    await until("node re-registered", async () => (await api.db.node.findFirst())!.consoleUrl !== before);

    const { vmId, operationId } = await api.caller(alice).vm.create({ templateId, name: "no-disk" });
    const op = await until("create failed", async () => {
      const o = await api.caller(alice).operation.get({ operationId });
      return o.status === "failed" ? o : null;
    });
    expect(op.error).toMatch(/^Cannot create the disk: the template's base image .* is missing/);
    expect(await api.db.vm.findUnique({ where: { id: vmId } })).toBeNull();
    await until("no files left", () => !existsSync(join(dataDir, "vms", vmId)));
  });

  it("refuses to create when QEMU is missing on the only node, with the reason", async () => {
    const other = await openPortal(TEMPLATE);
    const bob = other.alice;
    const srv = other.server;
    const dir = mkdtempSync(join(tmpdir(), "vdi-agent-noqemu-"));
    const child = startAgent(srv.url, dir, { VDI_QEMU_BINARY: "/nonexistent/qemu-system-x86_64", VDI_NODE_NAME: "noqemu" });
    try {
      await until("node up", async () => (await other.api.caller(bob).node.list()).find((n) => n.up));
      await expect(other.api.caller(bob).vm.create({ templateId: other.templateId, name: "x" })).rejects.toThrow(/QEMU VMs need QEMU on a node, and no node that is up has it \(noqemu: \/nonexistent\/qemu-system-x86_64 not found/);
      expect(await other.api.db.vm.count()).toBe(0);
    } finally {
      child.kill("SIGKILL");
      await other.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
