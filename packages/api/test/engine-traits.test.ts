// MicroVM rules come from the engine traits table, on both databases: what a microVM allows (no
// disk: no template, no disk resize, snapshots only while it runs), the reason no node can run one,
// and the rename of its engine ("kvm" → "vdi-vmm") for rows and node reports from before.
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { TRPCError } from "@trpc/server";
import { openTestApi, providers, type TestApi } from "./harness.ts";
import { seed, type Actor } from "../src/index.ts";

const microvm = { name: "microvm-desktop", title: "microVM desktop", engine: "vdi-vmm" as const, defaultMemoryMiB: 64, minMemoryMiB: 32, maxMemoryMiB: 256, defaultCpus: 1, maxCpus: 1, diskSizeGiB: 0 };
const code = async (p: Promise<unknown>) => p.then(() => "ok", (e) => (e instanceof TRPCError ? `${e.code}: ${e.message}` : `other: ${String(e)}`));

describe.each(providers)("engine traits on %s", (provider) => {
  let api: TestApi;
  let alice: Actor;
  let templateId: string;
  let nodeAuth: Headers;

  beforeAll(async () => {
    api = await openTestApi(provider);
    await seed(api.deps, { admin: { email: "admin@x.test", password: "admin-password" }, demo: { email: "demo@x.test", password: "demo-password" }, templates: [microvm] });
    alice = await api.makeUser("acme", "tenant_admin");
    templateId = (await api.caller(alice).template.list())[0]!.id;
  });
  afterAll(async () => api?.close());

  it("says why no node can run a microVM", async () => {
    const reg = await api.caller(null).nodeAgent.register({ joinToken: "test-join-token-0123456789", name: "n1", apiUrl: "http://127.0.0.1:1", consoleUrl: "ws://127.0.0.1:1", totalCpus: 4, totalMemoryMiB: 8192,
      capabilities: { engines: { qemu: { available: true }, "vdi-vmm": { available: false, reason: "no /dev/kvm" } }, images: ["microvm-desktop"] } });
    nodeAuth = new Headers({ authorization: `Bearer node.${reg.nodeId}.${reg.secret}` });
    expect(await code(api.caller(alice).vm.create({ templateId, name: "m1" }))).toBe("SERVICE_UNAVAILABLE: microVMs need hardware virtualization (KVM) on a node, and no node that is up has it (n1: no /dev/kvm)");
  });

  it("reads a node report from before the rename: its engine \"kvm\" is our VMM", async () => {
    await api.caller(null, nodeAuth).nodeAgent.sync({ vms: [], capabilities: { engines: { qemu: { available: true }, kvm: { available: true } }, images: ["microvm-desktop"] } });
    const { vmId } = await api.caller(alice).vm.create({ templateId, name: "m1" });
    const desired = (await api.caller(null, nodeAuth).nodeAgent.sync({ vms: [] })).vms.find((v) => v.id === vmId)!;
    expect(desired.engine).toBe("vdi-vmm");
  });

  it("offers a microVM only what its engine allows, and the page gets the traits with the VM", async () => {
    const [vm] = await api.caller(alice).vm.list();
    await api.caller(null, nodeAuth).nodeAgent.sync({ vms: [{ id: vm!.id, state: "stopped", op: { id: vm!.operation!.id, status: "succeeded", progress: 100 } }] });
    const stopped = await api.caller(alice).vm.get({ vmId: vm!.id });
    expect(stopped.template.traits).toMatchObject({ hasDisk: false, snapshotsHoldMemory: true, label: "microVM" });
    expect(stopped.actions).not.toContain("template");
    expect(stopped.actions).not.toContain("snapshot");  // its snapshots hold memory: it must run
    expect(stopped.actions).toContain("start");
    expect(await code(api.caller(alice).vm.resize({ vmId: vm!.id, diskGiB: 5 }))).toBe("BAD_REQUEST: MicroVMs have no disk to resize");
    expect(await code(api.caller(alice).snapshot.create({ vmId: vm!.id, name: "s" }))).toMatch(/^PRECONDITION_FAILED: A microVM snapshot holds its memory: start "m1" first/);
    await api.caller(null, nodeAuth).nodeAgent.sync({ vms: [{ id: vm!.id, state: "running" }] });
    expect((await api.caller(alice).vm.get({ vmId: vm!.id })).actions).toContain("snapshot");
  });

  it("migrates stored templates from the old engine name", async () => {
    await api.db.template.updateMany({ data: { engine: "kvm" } });  // as a database from before holds it
    const sql = readFileSync(join(import.meta.dirname, "../../../prisma/migrations", provider, "0010_engine_vdi_vmm/migration.sql"), "utf8");
    await api.db.$executeRawUnsafe(sql.split("\n").filter((l) => !l.startsWith("--")).join("\n"));
    expect((await api.db.template.findFirstOrThrow({ where: { id: templateId } })).engine).toBe("vdi-vmm");
  });
});
