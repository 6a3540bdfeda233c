// The node's sync with a real portal API, without the rest of the agent: registration, the
// long-poll that hears a new VM at once, reports that reach the portal, and joining again after
// the portal forgot the node. The reconciler's side is a recording stand-in (this module's unit test).
import { mkdtempSync, rmSync, writeFileSync, existsSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { DesiredVm, VmReport } from "@vdi/node-protocol";
import { PortalSync } from "../src/portal-sync.ts";
import { openPortal, until } from "./helpers.ts";

describe("the node's portal sync", () => {
  let dir: string;
  let portal: Awaited<ReturnType<typeof openPortal>>;
  let sync: PortalSync;
  let desired: DesiredVm[] = [];
  let reports: VmReport[] = [];
  const revoked: string[][] = [];
  const logs: string[] = [];

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), "vdi-portal-sync-"));
    const template = join(dir, "template.json");
    writeFileSync(template, JSON.stringify({ name: "debian-shell", title: "Debian shell", engine: "qemu", defaultMemoryMiB: 256, minMemoryMiB: 128, maxMemoryMiB: 1024, defaultCpus: 1, maxCpus: 2, diskSizeGiB: 1 }));
    portal = await openPortal(template);
    sync = new PortalSync({
      portalUrl: portal.server.url,
      dataDir: dir,
      identity: { joinToken: "test-join-token-0123456789", name: "sync-node", totalCpus: 4, totalMemoryMiB: 8192 },
      endpoints: { apiUrl: "http://127.0.0.1:1", consoleUrl: "ws://127.0.0.1:1" },
      capabilities: () => ({ engines: { qemu: { available: true, version: "test", accel: "tcg" } }, images: ["debian-shell"] }),
      reports: () => reports,
      onDesired: (vms) => { desired = vms; },
      onRevokedUsers: (users) => revoked.push(users),
      log: (m) => logs.push(m),
      longPollMs: 10_000,
      heartbeatMs: 500,
    });
    sync.start();
  });
  afterAll(async () => {
    await sync?.stop();
    await portal?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it("registers with the join token and keeps its credentials on disk", async () => {
    await until("registered", async () => sync.registered());
    expect(existsSync(join(dir, "credentials.json"))).toBe(true);
    const node = await portal.api.db.node.findUniqueOrThrow({ where: { name: "sync-node" } });
    expect(sync.nodeId()).toBe(node.id);
    expect(sync.consolePublicKeyPem()).toBe(portal.api.deps.consoleSigner.publicKeyPem);
    // Every answer says who lost access (nobody yet): the first sync after registration brings one.
    expect(await until("a sync answer", async () => revoked.at(-1), 10_000)).toEqual([]);
  });

  it("hears a new VM through the long-poll at once, with its operation decoded", async () => {
    const t0 = Date.now();
    const { vmId, operationId } = await portal.api.caller(portal.alice).vm.create({ templateId: portal.templateId, name: "synced" });
    await until("the VM in the desired set", async () => desired.some((v) => v.id === vmId));
    expect(Date.now() - t0).toBeLessThan(3_000);  // not the 10 s long-poll timeout
    expect(desired.find((v) => v.id === vmId)).toMatchObject({ desiredState: "running", engine: "qemu", op: { id: operationId, kind: "create", arg: {} } });
    // What the node reports reaches the portal (the report loop, told of the change).
    reports = [{ id: vmId, state: "running", op: { id: operationId, status: "succeeded", progress: 100 } }];
    sync.changed();
    await until("the portal sees it running", async () => (await portal.api.caller(portal.alice).vm.get({ vmId })).state === "running");
    expect(await portal.api.caller(portal.alice).operation.get({ operationId })).toMatchObject({ status: "succeeded" });
  });

  it("joins again, as a new node, when the portal no longer knows it", async () => {
    const before = sync.nodeId()!;
    await portal.api.db.vm.deleteMany({});
    await portal.api.db.operation.deleteMany({});
    reports = [];
    await portal.api.db.node.delete({ where: { id: before } });
    await until("registered again", async () => sync.nodeId() !== null && sync.nodeId() !== before, 20_000);
    expect(logs.join("\n")).toMatch(/portal refused our credentials; registering again/);
    expect(await portal.api.db.node.count({ where: { name: "sync-node" } })).toBe(1);
  }, 30_000);
});
