// The audit line and the change it records are one: written in the same transaction, from the
// validated input. A change whose line cannot be written does not happen; an input the trail
// cannot summarise (nested 20,000 deep) is refused before anything changes.
import { describe, it, expect, beforeAll, afterAll } from "vitest";
import { openTestApi, providers, type TestApi } from "./harness.ts";
import { seed, type Actor } from "../src/index.ts";

const caps = { engines: { qemu: { available: true, version: "7.2", accel: "tcg" } }, images: ["debian-shell"] };
const template = { name: "debian-shell", title: "Debian shell", engine: "qemu" as const, defaultMemoryMiB: 256, minMemoryMiB: 128, maxMemoryMiB: 1024, defaultCpus: 1, maxCpus: 2, diskSizeGiB: 1 };

function deeplyNested(depth: number): unknown {
  let v: unknown = [];
  for (let i = 0; i < depth; i++) v = [v];
  return v;
}

describe.each(providers)("audit in the change's transaction on %s", (provider) => {
  let api: TestApi;
  let dora: Actor;
  let vmId: string;
  let snapshotId: string;
  let node: ReturnType<TestApi["caller"]>;

  beforeAll(async () => {
    api = await openTestApi(provider);
    await seed(api.deps, { admin: { email: "admin@x.test", password: "admin-password" }, demo: { email: "demo@x.test", password: "demo-password" }, templates: [template] });
    dora = await api.makeUser("atomic", "user");
    const reg = await api.caller(null).nodeAgent.register({ joinToken: "test-join-token-0123456789", name: "n1", apiUrl: "http://127.0.0.1:1", consoleUrl: "ws://127.0.0.1:1", totalCpus: 8, totalMemoryMiB: 65536, capabilities: caps });
    node = api.caller(null, new Headers({ authorization: `Bearer node.${reg.nodeId}.${reg.secret}` }));
    const templateId = (await api.caller(dora).template.list())[0]!.id;
    const vm = await api.caller(dora).vm.create({ templateId, name: "atomic-vm" });
    vmId = vm.vmId;
    await node.nodeAgent.sync({ vms: [{ id: vmId, state: "running", op: { id: vm.operationId, status: "succeeded", progress: 100 } }] });
    const snap = await api.caller(dora).snapshot.create({ vmId, name: "atomic-snap" });
    snapshotId = snap.snapshotId;
    await node.nodeAgent.sync({ vms: [{ id: vmId, state: "running", op: { id: snap.operationId, status: "succeeded", progress: 100, bytes: 1 } }] });
  });
  afterAll(async () => api?.close());

  /** Makes the database refuse audit lines of one action, as a full disk or a lost connection would. */
  async function refuseAuditOf(action: string, on: boolean) {
    if (provider === "sqlite") {
      if (on) await api.db.$executeRawUnsafe(`CREATE TRIGGER audit_down BEFORE INSERT ON "AuditEvent" WHEN NEW.action = '${action}' BEGIN SELECT RAISE(ABORT, 'audit down'); END`);
      else await api.db.$executeRawUnsafe("DROP TRIGGER audit_down");
    } else if (on) {
      await api.db.$executeRawUnsafe(`CREATE FUNCTION audit_down() RETURNS trigger AS $$ BEGIN IF NEW.action = '${action}' THEN RAISE EXCEPTION 'audit down'; END IF; RETURN NEW; END $$ LANGUAGE plpgsql`);
      await api.db.$executeRawUnsafe(`CREATE TRIGGER audit_down BEFORE INSERT ON "AuditEvent" FOR EACH ROW EXECUTE FUNCTION audit_down()`);
    } else {
      await api.db.$executeRawUnsafe(`DROP TRIGGER audit_down ON "AuditEvent"`);
      await api.db.$executeRawUnsafe("DROP FUNCTION audit_down()");
    }
  }

  it("refuses a deeply nested extra key with 400: nothing changes, the refusal is in the trail", async () => {
    const c = api.caller(dora);
    await expect(c.vm.share({ vmId, shared: true, title: deeplyNested(20_000) } as never)).rejects.toMatchObject({ code: "BAD_REQUEST", message: expect.stringMatching(/nested too deeply/) });
    await expect(c.snapshot.delete({ snapshotId, name: deeplyNested(20_000) } as never)).rejects.toMatchObject({ code: "BAD_REQUEST" });
    expect((await api.db.vm.findUniqueOrThrow({ where: { id: vmId } })).shared).toBe(false);
    expect(await api.db.operation.count({ where: { vmId, kind: "snapshot-delete" } })).toBe(0);
    const share = await api.db.auditEvent.findMany({ where: { action: "vm.share" } });
    expect(share.map((e) => e.outcome)).toEqual(["error"]);
    expect(share[0]!.detail).toMatch(/nested too deeply/);
  });

  it("does not make a change whose audit line cannot be written", async () => {
    await refuseAuditOf("vm.share", true);
    try {
      await expect(api.caller(dora).vm.share({ vmId, shared: true })).rejects.toMatchObject({ code: "INTERNAL_SERVER_ERROR" });
    } finally {
      await refuseAuditOf("vm.share", false);
    }
    expect((await api.db.vm.findUniqueOrThrow({ where: { id: vmId } })).shared).toBe(false);
    // With the trail back, the same call works and its line is there, from the validated input.
    await api.caller(dora).vm.share({ vmId, shared: true, title: "ignored extra" } as never);
    expect((await api.db.vm.findUniqueOrThrow({ where: { id: vmId } })).shared).toBe(true);
    const ok = await api.db.auditEvent.findMany({ where: { action: "vm.share", outcome: "ok" } });
    expect(ok).toHaveLength(1);
    expect(ok[0]).toMatchObject({ targetType: "vm", targetId: vmId, actorId: dora.userId });
    expect(ok[0]!.detail ?? "").not.toContain("ignored extra");
  });

  it("keeps a failed change's partial writes out, and records the failure", async () => {
    await refuseAuditOf("snapshot.delete", true);
    try {
      await expect(api.caller(dora).snapshot.delete({ snapshotId })).rejects.toMatchObject({ code: "INTERNAL_SERVER_ERROR" });
    } finally {
      await refuseAuditOf("snapshot.delete", false);
    }
    expect(await api.db.operation.count({ where: { vmId, kind: "snapshot-delete" } })).toBe(0);
    await api.caller(dora).snapshot.delete({ snapshotId });
    expect(await api.db.operation.count({ where: { vmId, kind: "snapshot-delete" } })).toBe(1);
    expect(await api.db.auditEvent.count({ where: { action: "snapshot.delete", outcome: "ok", targetId: snapshotId } })).toBe(1);
  });
});
