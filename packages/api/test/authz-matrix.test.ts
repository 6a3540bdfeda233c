// The authorization matrix, generated from the router itself: every procedure is called
// unauthenticated, as a plain tenant user (on admin procedures), as another tenant's user and admin
// holding tenant A's ids, and as another user of tenant A holding a private VM's ids. A procedure
// added later is covered without editing this test: if its input names an object it must be
// refused; if it names none it must be listed in NO_OBJECT (a decision); if its input has a field
// this test has no sample for, the test fails and says which.
import { describe, it, expect, beforeAll, afterAll } from "vitest";
import { TRPCError } from "@trpc/server";
import { z } from "zod";
import { openTestApi, providers, type TestApi } from "./harness.ts";
import { appRouter, seed, type Actor } from "../src/index.ts";

type Access = "public" | "user" | "tenant_admin" | "admin" | "node";
interface ProcDef { type: "query" | "mutation" | "subscription"; meta?: { access?: Access }; inputs: unknown[] }
const procedures = Object.entries((appRouter._def as unknown as { procedures: Record<string, { _def: ProcDef }> }).procedures)
  .map(([path, p]) => ({ path, def: p._def }));

/** Procedures anyone may call; adding one here is a deliberate decision. */
const PUBLIC = ["auth.login", "auth.me", "auth.providers", "auth.verifyTotp", "auth.verifyBackupCode", "nodeAgent.register", "tenant.invitation", "tenant.acceptInvitation", "seat.hello", "seat.enroll"];

/**
 * Input fields that name an object of a tenant (or a node). A procedure whose sample input holds one
 * of these names one of tenant A's objects, and another tenant's users must be refused it.
 */
const OBJECT_FIELDS = ["vmId", "snapshotId", "operationId", "templateId", "userId", "invitationId", "tenantId", "tokenId", "nodeId", "seatId", "poolId", "sessionId", "shadowId"];

/**
 * Non-admin procedures whose input names no object (lists of one's own, creating one's own, one's
 * own settings). Another tenant's users may call them; the answer must hold nothing of tenant A.
 * Keep it small: a procedure that takes an id belongs to the refused side, automatically.
 */
const NO_OBJECT = [
  "auth.logout", "auth.twoFactorStatus", "auth.enableTwoFactor", "auth.confirmTwoFactor", "auth.disableTwoFactor",
  "vm.list", "vm.changes", "template.list", "node.list",
  "tenant.usage", "tenant.invitations", "apiToken.list", "apiToken.create", "seat.list",
  "pool.list", "session.list",
];

/** What a user of tenant A who does not own the private VM may not name: the VM, its snapshot and operation, the owner's token. */
const PRIVATE_FIELDS = ["vmId", "snapshotId", "operationId", "tokenId"];

const caps = { engines: { qemu: { available: true, version: "7.2", accel: "tcg" } }, images: ["debian-shell"] };
const template = { name: "debian-shell", title: "Debian shell", engine: "qemu" as const, defaultMemoryMiB: 256, minMemoryMiB: 128, maxMemoryMiB: 1024, defaultCpus: 1, maxCpus: 2, diskSizeGiB: 1 };

async function outcome(p: Promise<unknown>): Promise<{ ok: true; value: unknown } | { ok: false; code: string; message: string }> {
  try {
    let value = await p;
    // Subscriptions: read the first value (with a deadline) and stop.
    if (value && typeof value === "object" && Symbol.asyncIterator in value) {
      const it = (value as AsyncIterable<unknown>)[Symbol.asyncIterator]();
      value = await Promise.race([it.next().then((r) => r.value), new Promise((r) => setTimeout(() => r("(no value within 2 s)"), 2000))]);
      await it.return?.();
    }
    return { ok: true, value };
  } catch (e) {
    if (e instanceof TRPCError) return { ok: false, code: e.code, message: e.message };
    throw e;
  }
}

describe.each(providers)("authorization matrix on %s", (provider) => {
  let api: TestApi;
  let a: { user: Actor; admin: Actor; vmId: string; snapshotId: string; operationId: string; templateId: string; invitationId: string; tokenId: string };
  let b: { user: Actor; admin: Actor };
  let samples: Record<string, unknown>;
  let seatId = "";
  let poolId = "";
  let sessionId = "";
  let shadowId = "";
  let seatSecret = "";

  beforeAll(async () => {
    api = await openTestApi(provider);
    await seed(api.deps, { admin: { email: "admin@x.test", password: "admin-password" }, demo: { email: "demo@x.test", password: "demo-password" }, templates: [template] });
    const aUser = await api.makeUser("tenant-a", "user");
    const aAdmin = await api.makeUser("tenant-a", "tenant_admin");
    b = { user: await api.makeUser("tenant-b", "user"), admin: await api.makeUser("tenant-b", "tenant_admin") };
    // Tenant A owns a VM with a snapshot, an operation, a tenant template and an open invitation.
    const reg = await api.caller(null).nodeAgent.register({ joinToken: "test-join-token-0123456789", name: "n1", apiUrl: "http://127.0.0.1:1", consoleUrl: "ws://127.0.0.1:1", totalCpus: 8, totalMemoryMiB: 65536, capabilities: caps });
    const node = api.caller(null, new Headers({ authorization: `Bearer node.${reg.nodeId}.${reg.secret}` }));
    const ca = api.caller(aUser);
    const templateId = (await ca.template.list())[0]!.id;
    const vm = await ca.vm.create({ templateId, name: "a-vm" });
    await node.nodeAgent.sync({ vms: [{ id: vm.vmId, state: "running", op: { id: vm.operationId, status: "succeeded", progress: 100 } }] });
    const snap = await ca.snapshot.create({ vmId: vm.vmId, name: "a-snap" });
    await node.nodeAgent.sync({ vms: [{ id: vm.vmId, state: "running", op: { id: snap.operationId, status: "succeeded", progress: 100, bytes: 1 } }] });
    const tpl = await api.caller(aAdmin).template.fromVm({ vmId: vm.vmId, snapshotId: snap.snapshotId, title: "A private template" });
    await node.nodeAgent.sync({ vms: [{ id: vm.vmId, state: "running", op: { id: tpl.operationId, status: "succeeded", progress: 100, bytes: 1 } }] });
    const inv = await api.caller(aAdmin).tenant.invite({ email: "new@a.test" });
    // A real API token of A's user: revoking it by id must be refused to everyone else.
    const token = await api.caller(aUser).apiToken.create({ name: "a-token", scopes: ["vm:read"], expiresInDays: 30 });
    await api.caller(aAdmin).tenant.setMemberLimits({ userId: aUser.userId, vms: 5 });
    const seat = await api.caller(aAdmin).seat.register({ name: "a-seat", location: "A's office" });
    seatId = seat.seatId;
    seatSecret = seat.enrollPath.split("enroll=")[1]!;
    poolId = (await api.caller(aAdmin).pool.create({ name: "a-pool", templateId: tpl.templateId, policy: "persistent", warmSize: 0, maxSize: 2, perUserLimit: 1, disconnectMinutes: 5, idleLogoffMinutes: 30 })).poolId;
    // A's user at A's seat, watched by A's admin: the session and the shadow are real objects of A.
    const session = await api.caller(aUser).seat.connect({ seatId, secret: seatSecret, authMs: 1 });
    sessionId = session.sessionId;
    shadowId = (await api.caller(aAdmin).session.shadow({ sessionId })).shadowId;
    a = { user: aUser, admin: aAdmin, vmId: vm.vmId, snapshotId: snap.snapshotId, operationId: snap.operationId, templateId: tpl.templateId, invitationId: inv.invitationId, tokenId: token.tokenId };
    // Tenant A's ids everywhere an input names something.
    samples = {
      vmId: a.vmId, snapshotId: a.snapshotId, operationId: a.operationId, templateId: a.templateId, userId: a.user.userId,
      invitationId: a.invitationId, tenantId: a.user.tenantId, tokenId: a.tokenId, nodeId: reg.nodeId, code: "123456",
      shared: true, name: "matrix-probe", title: "Matrix probe", description: "probe", email: "probe@x.test", password: "probe-password-123",
      role: "user", enabled: false, mode: "full", scope: "tenant", withRam: false, cpus: 1, memoryMiB: 256, diskGiB: 2,
      limit: 5, slug: "probe-tenant", vms: 1, vcpus: 1, snapshots: 1, token: "x".repeat(30), scopes: ["vm:read"], expiresInDays: 1,
      joinToken: "wrong-join-token-000000", apiUrl: "http://127.0.0.1:1", consoleUrl: "ws://127.0.0.1:1", totalCpus: 1, totalMemoryMiB: 1,
      capabilities: caps, vmsReport: [], etag: null, waitMs: 0, actor: a.user.email, action: "vm.", outcome: "ok", targetId: a.vmId, cursor: undefined,
      drained: true, retired: true, seatId, location: "probe room", secret: seatSecret,
      poolId, sessionId, shadowId, how: "disconnect", answer: "stop", authMs: 1, ms: 1, input: false, policy: "persistent", warmSize: 0, maxSize: 1, perUserLimit: 1,
      disconnectMinutes: 1, idleLogoffMinutes: 1, note: "probe", expiresInHours: 1, joinTokenId: "nosuchjointoken",
    };
  });
  afterAll(async () => api?.close());

  function inputFor(path: string, def: ProcDef): unknown {
    const declared = def.inputs[0];
    if (!declared) return undefined;
    // An input that may be left out (vm.list's page) is sampled as the object it holds.
    const schema = declared instanceof z.ZodOptional ? declared.unwrap() : declared;
    if (!(schema instanceof z.ZodObject)) throw new Error(`${path}: input is not an object schema; teach the matrix test about it`);
    const out: Record<string, unknown> = {};
    for (const [key, field] of Object.entries(schema.shape as Record<string, z.ZodType>)) {
      const sampleKey = path === "nodeAgent.sync" && key === "vms" ? "vmsReport" : key;
      if (sampleKey in samples) { if (samples[sampleKey] !== undefined) out[key] = samples[sampleKey]; continue; }
      if (field.safeParse(undefined).success) continue;  // optional, no sample: leave it out
      throw new Error(`${path}: no sample value for required input field "${key}" — add one to the matrix test`);
    }
    return out;
  }
  const call = (actor: Actor | null, path: string, def: ProcDef) => {
    const [router, proc] = path.split(".") as [string, string];
    const caller = api.caller(actor) as unknown as Record<string, Record<string, (i: unknown) => Promise<unknown>>>;
    return outcome(caller[router]![proc]!(inputFor(path, def)));
  };

  it("covers every procedure of the router", () => {
    expect(procedures.length).toBeGreaterThan(30);
    for (const { path, def } of procedures) expect(def.meta?.access, `${path} has no access level`).toBeDefined();
    const publics = procedures.filter((p) => p.def.meta?.access === "public").map((p) => p.path).sort();
    expect(publics).toEqual([...PUBLIC].sort());
  });

  it("refuses every non-public procedure without a session", async () => {
    for (const { path, def } of procedures) {
      if (def.meta?.access === "public") continue;
      const r = await call(null, path, def);
      expect(r.ok ? "ok" : r.code, `${path} unauthenticated`).toBe("UNAUTHORIZED");
    }
  });

  it("refuses admin procedures to tenant users, and platform-admin ones to tenant admins", async () => {
    for (const { path, def } of procedures) {
      const access = def.meta?.access;
      if (access === "tenant_admin" || access === "admin") {
        const r = await call(b.user, path, def);
        expect(r.ok ? "ok" : r.code, `${path} as a tenant user`).toBe("FORBIDDEN");
      }
      if (access === "admin") {
        const r = await call(b.admin, path, def);
        expect(r.ok ? "ok" : r.code, `${path} as a tenant admin`).toBe("FORBIDDEN");
      }
      if (access === "node") {
        const r = await call(b.admin, path, def);
        expect(r.ok ? "ok" : r.code, `${path} as a user`).toBe("UNAUTHORIZED");
      }
    }
  });

  /** Whether the sample input of a procedure names an object (from `fields`). */
  function namesObject(path: string, def: ProcDef, fields: string[]): boolean {
    const input = inputFor(path, def);
    return !!input && typeof input === "object" && Object.keys(input).some((k) => fields.includes(k));
  }
  const tenantProcedures = () => procedures.filter((p) => p.def.meta?.access === "user" || p.def.meta?.access === "tenant_admin");

  it("classifies every tenant procedure: it names an object of a tenant, or it is on the NO_OBJECT list", () => {
    for (const { path, def } of tenantProcedures()) {
      if (namesObject(path, def, OBJECT_FIELDS)) expect(NO_OBJECT, `${path} names an object: it cannot be on NO_OBJECT`).not.toContain(path);
      else expect(NO_OBJECT, `${path} names no object: decide whether another tenant may call it, and add it to NO_OBJECT`).toContain(path);
    }
    const known = new Set(tenantProcedures().map((p) => p.path));
    for (const path of NO_OBJECT) expect(known.has(path), `NO_OBJECT lists ${path}, which is not a tenant procedure`).toBe(true);
  });

  for (const who of ["user", "admin"] as const) {
    it(`refuses tenant B's ${who === "user" ? "tenant user" : "tenant admin"} every procedure that names an object of tenant A, and the others answer without A's data`, async () => {
      const actor = b[who];
      const before = await snapshotOfA();
      const secrets = [a.vmId, a.snapshotId, a.templateId, a.invitationId, a.tokenId, a.user.userId, a.user.email, "a-vm", "a-snap", "a-token", "A private template", "new@a.test", seatId, "a-seat"];
      let refused = 0;
      for (const { path, def } of tenantProcedures()) {
        const r = await call(actor, path, def);
        const text = r.ok ? JSON.stringify(r.value) ?? "" : r.message;
        for (const s of secrets) expect(text, `${path} ${r.ok ? "answer" : "error"} leaks ${s}`).not.toContain(s);
        if (namesObject(path, def, OBJECT_FIELDS)) {
          expect(r.ok ? "ok" : r.code, `${path} with tenant A's ids${r.ok ? "" : `: ${r.message}`}`).toMatch(/^(NOT_FOUND|FORBIDDEN)$/);
          refused++;
        }
      }
      expect(refused).toBeGreaterThan(25);
      expect(await snapshotOfA()).toEqual(before);
    });
  }

  it("keeps a tenant user's private VM from the tenant's other users, until it is shared", async () => {
    const peer = await api.makeUser("tenant-a", "user");
    const vmState = async () => ({
      vm: await api.db.vm.findUnique({ where: { id: a.vmId }, select: { desiredState: true, generation: true, cpus: true, memoryMiB: true, diskGiB: true, shared: true } }),
      snapshots: await api.db.snapshot.findMany({ where: { vmId: a.vmId }, select: { id: true, status: true } }),
    });
    const before = await vmState();
    const secrets = [a.vmId, a.snapshotId, a.operationId, a.tokenId, "a-vm", "a-snap", "a-token"];
    let refused = 0;
    for (const { path, def } of procedures) {
      if (def.meta?.access !== "user") continue;
      const r = await call(peer, path, def);
      const text = r.ok ? JSON.stringify(r.value) ?? "" : r.message;
      for (const s of secrets) expect(text, `${path} shows ${s} to another user of the tenant`).not.toContain(s);
      // Naming the private VM (its snapshot, its operation) or the owner's token: refused outright.
      if (namesObject(path, def, PRIVATE_FIELDS)) {
        expect(r.ok ? "ok" : r.code, `${path} on another user's private VM${r.ok ? "" : `: ${r.message}`}`).toMatch(/^(NOT_FOUND|FORBIDDEN)$/);
        refused++;
      }
    }
    expect(refused).toBeGreaterThan(20);
    expect(await vmState()).toEqual(before);
    expect((await api.db.apiToken.findUniqueOrThrow({ where: { id: a.tokenId } })).revokedAt).toBeNull();
    // Shared: visible and usable; still only its owner or a tenant admin may delete it.
    await expect(api.caller(peer).vm.share({ vmId: a.vmId, shared: true })).rejects.toThrow(/NOT_FOUND|VM not found/);
    await api.caller(a.user).vm.share({ vmId: a.vmId, shared: true });
    expect((await api.caller(peer).vm.get({ vmId: a.vmId })).name).toBe("a-vm");
    await expect(api.caller(peer).vm.delete({ vmId: a.vmId })).rejects.toThrow(/Only the owner of "a-vm" or a tenant admin can delete it/);
    await expect(api.caller(peer).vm.share({ vmId: a.vmId, shared: false })).rejects.toThrow(/Only the owner/);
    await api.caller(a.admin).vm.share({ vmId: a.vmId, shared: false });
    await expect(api.caller(peer).vm.get({ vmId: a.vmId })).rejects.toThrow(/VM not found/);
  });

  /** What tenant A has, to prove nothing of it changed. */
  async function snapshotOfA() {
    const db = api.db;
    return {
      vm: await db.vm.findUnique({ where: { id: a.vmId }, select: { desiredState: true, generation: true, cpus: true, memoryMiB: true, diskGiB: true, name: true } }),
      snapshots: await db.snapshot.findMany({ where: { vmId: a.vmId }, select: { id: true, status: true, name: true } }),
      users: await db.user.findMany({ where: { tenantId: a.user.tenantId }, select: { id: true, role: true, disabledAt: true }, orderBy: { id: "asc" } }),
      template: await db.template.findUnique({ where: { id: a.templateId }, select: { status: true, tenantId: true } }),
      invitation: await db.invitation.findUnique({ where: { id: a.invitationId }, select: { acceptedAt: true } }),
      tenant: await db.tenant.findUnique({ where: { id: a.user.tenantId } }),
      token: await db.apiToken.findUnique({ where: { id: a.tokenId }, select: { revokedAt: true, name: true } }),
      limits: await db.memberLimit.findMany({ where: { tenantId: a.user.tenantId }, orderBy: { userId: "asc" } }),
      templates: await db.template.findMany({ where: { tenantId: a.user.tenantId }, select: { id: true, retiredAt: true } }),
      vmCount: await db.vm.count({ where: { tenantId: a.user.tenantId } }),
    };
  }
});
