// The audit trail: every mutation (ok, denied, error) with who, tenant, target, IP; append-only in
// the database itself; filtered lists for admins (tenant admins see only their tenant).
import { describe, it, expect, beforeAll, afterAll } from "vitest";
import { openTestApi, providers, type TestApi } from "./harness.ts";
import { seed, type Actor } from "../src/index.ts";

const caps = { engines: { qemu: { available: true, version: "7.2", accel: "tcg" } }, images: ["debian-shell"] };
const template = { name: "debian-shell", title: "Debian shell", engine: "qemu" as const, defaultMemoryMiB: 256, minMemoryMiB: 128, maxMemoryMiB: 1024, defaultCpus: 1, maxCpus: 2, diskSizeGiB: 1 };

describe.each(providers)("audit trail on %s", (provider) => {
  let api: TestApi;
  let dora: Actor;
  let doraAdmin: Actor;
  let eve: Actor;
  let platform: Actor;

  beforeAll(async () => {
    api = await openTestApi(provider);
    await seed(api.deps, { admin: { email: "admin@x.test", password: "admin-password" }, demo: { email: "demo@x.test", password: "demo-password" }, templates: [template] });
    dora = await api.makeUser("audited", "user");
    doraAdmin = await api.makeUser("audited", "tenant_admin");
    eve = await api.makeUser("other", "tenant_admin");
    platform = await api.makeUser("platform", "admin");
    await api.caller(null).nodeAgent.register({ joinToken: "test-join-token-0123456789", name: "n1", apiUrl: "http://127.0.0.1:1", consoleUrl: "ws://127.0.0.1:1", totalCpus: 8, totalMemoryMiB: 65536, capabilities: caps });
  });
  afterAll(async () => api?.close());

  it("records each mutation with its outcome, actor, tenant, target and source IP", async () => {
    const from = new Headers({ "x-vdi-client-ip": "203.0.113.7" });
    const ctx = (actor: Actor | null) => api.caller(actor, from);
    const templateId = (await api.caller(dora).template.list())[0]!.id;
    const { vmId } = await ctx(dora).vm.create({ templateId, name: "audited-vm" });
    await expect(ctx(eve).vm.stop({ vmId })).rejects.toThrow(/VM not found/);
    await expect(ctx(dora).vm.create({ templateId, name: "Bad Name" })).rejects.toThrow();
    await expect(ctx(null).auth.login({ email: "dora@nowhere.test", password: "wrong-password" })).rejects.toThrow(/Wrong email or password/);
    // Queries are not recorded.
    await api.caller(dora).vm.list();

    const events = await api.db.auditEvent.findMany({ orderBy: { at: "asc" } });
    const find = (action: string, outcome: string) => events.find((e) => e.action === action && e.outcome === outcome);
    expect(find("vm.create", "ok")).toMatchObject({ actorId: dora.userId, actorEmail: dora.email, tenantId: dora.tenantId, targetType: "vm", targetId: vmId, ip: "203.0.113.7", via: "session" });
    expect(find("vm.create", "ok")!.detail).toContain('name="audited-vm"');
    expect(find("vm.stop", "denied")).toMatchObject({ actorId: eve.userId, tenantId: eve.tenantId, targetId: vmId, detail: expect.stringContaining("VM not found") });
    expect(find("vm.create", "error")).toMatchObject({ actorId: dora.userId, detail: expect.stringContaining("lowercase letters") });
    const login = find("auth.login", "denied")!;
    expect(login).toMatchObject({ actorId: null, actorEmail: "dora@nowhere.test", via: "anonymous" });
    expect(JSON.stringify(login)).not.toContain("wrong-password");
    expect(events.some((e) => e.action === "vm.list")).toBe(false);
  });

  it("is append-only in the database itself", async () => {
    const one = await api.db.auditEvent.findFirstOrThrow();
    await expect(api.db.auditEvent.update({ where: { id: one.id }, data: { outcome: "ok", detail: "rewritten" } })).rejects.toThrow(/append-only/);
    await expect(api.db.auditEvent.deleteMany({})).rejects.toThrow(/append-only/);
    if (provider === "postgresql") await expect(api.db.$executeRawUnsafe('TRUNCATE "AuditEvent"')).rejects.toThrow(/append-only/);
    expect(await api.db.auditEvent.findUnique({ where: { id: one.id } })).toEqual(one);
  });

  it("lists events for admins with filters and paging; tenant admins see only their tenant", async () => {
    const mine = await api.caller(doraAdmin).audit.list({ limit: 100 });
    expect(mine.events.length).toBeGreaterThan(0);
    expect(mine.events.every((e) => e.tenantId === doraAdmin.tenantId)).toBe(true);
    // A tenant admin naming another tenant is refused (naming their own is fine).
    await expect(api.caller(doraAdmin).audit.list({ tenantId: eve.tenantId, limit: 100 })).rejects.toThrow(/Tenant not found/);
    expect((await api.caller(doraAdmin).audit.list({ tenantId: doraAdmin.tenantId, limit: 100 })).events).toEqual(mine.events);
    const denied = await api.caller(platform).audit.list({ outcome: "denied", action: "vm.", limit: 100 });
    expect(denied.events.map((e) => e.action)).toEqual(["vm.stop"]);
    const byActor = await api.caller(platform).audit.list({ actor: dora.email, limit: 100 });
    expect(byActor.events.length).toBeGreaterThanOrEqual(2);
    expect(byActor.events.every((e) => e.actorEmail === dora.email)).toBe(true);
    const past = await api.caller(platform).audit.list({ to: new Date(Date.now() - 3_600_000), limit: 100 });
    expect(past.events).toEqual([]);
    // Paging: one at a time walks the same events, newest first, without repeats.
    const all = await api.caller(platform).audit.list({ limit: 200 });
    const walked: string[] = [];
    let cursor: string | undefined;
    do {
      const page = await api.caller(platform).audit.list({ limit: 2, ...(cursor ? { cursor } : {}) });
      walked.push(...page.events.map((e) => e.id));
      cursor = page.nextCursor ?? undefined;
    } while (cursor);
    expect(walked).toEqual(all.events.map((e) => e.id));
    await expect(api.caller(dora).audit.list({ limit: 10 })).rejects.toThrow(/Tenant administrators only/);
  });
});
