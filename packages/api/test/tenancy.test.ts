// Tenants and their people: invitations (one-time, expiring), roles, revoking access (sessions end
// at once, login refused), platform admins' tenants and quotas.
import { describe, it, expect, beforeAll, afterAll } from "vitest";
import { TRPCError } from "@trpc/server";
import { openTestApi, providers, type TestApi } from "./harness.ts";
import { createContext, seed, type Actor } from "../src/index.ts";

async function code(p: Promise<unknown>): Promise<string> {
  try { await p; } catch (e) { return e instanceof TRPCError ? `${e.code}: ${e.message}` : `other: ${String(e)}`; }
  return "ok";
}

describe.each(providers)("tenancy on %s", (provider) => {
  let api: TestApi;
  let boss: Actor;
  let platform: Actor;

  beforeAll(async () => {
    api = await openTestApi(provider);
    await seed(api.deps, { admin: { email: "admin@x.test", password: "admin-password" }, demo: { email: "demo@x.test", password: "demo-password" }, templates: [] });
    boss = await api.makeUser("acme", "tenant_admin");
    platform = await api.makeUser("platform", "admin");
  });
  afterAll(async () => api?.close());

  /** A fresh client address each time: sign-ins are rate-limited per address. */
  let clients = 0;
  const client = () => new Headers({ "x-vdi-client-ip": `198.51.${provider === "sqlite" ? 100 : 101}.${++clients}` });

  /** Logs in through Better Auth and returns a caller holding the session cookie. */
  async function session(email: string, password: string) {
    const res = new Headers();
    const ctx = await createContext(api.deps, { headers: client(), resHeaders: res });
    const { appRouter, createCallerFactory } = await import("../src/index.ts");
    await createCallerFactory(appRouter)(ctx).auth.login({ email, password });
    const cookie = res.getSetCookie().find((c) => c.startsWith("vdi.session_token="))!.split(";")[0]!;
    return async () => createCallerFactory(appRouter)(await createContext(api.deps, { headers: new Headers({ cookie }), resHeaders: new Headers() }));
  }

  it("invites a person, who joins once with the link, and can then log in", async () => {
    const inv = await api.caller(boss).tenant.invite({ email: "New.Person@Acme.test", role: "user" });
    expect(inv.path).toMatch(/^\/invite\/[A-Za-z0-9_-]{30,}$/);
    const token = inv.path.split("/").pop()!;
    expect(await api.caller(null).tenant.invitation({ token })).toMatchObject({ email: "new.person@acme.test", tenant: "Tenant acme", role: "user" });
    expect(await code(api.caller(null).tenant.acceptInvitation({ token, name: "New", password: "short" }))).toMatch(/^BAD_REQUEST: password: Use at least 12 characters/);
    const res = new Headers();
    const ctx = { ...api.deps, headers: client(), resHeaders: res, ip: null, actor: null };
    const { appRouter, createCallerFactory } = await import("../src/index.ts");
    const joined = await createCallerFactory(appRouter)(ctx).tenant.acceptInvitation({ token, name: "New Person", password: "a-good-long-password" });
    expect(joined.tenantId).toBe(boss.tenantId);
    expect(res.getSetCookie().some((c) => c.startsWith("vdi.session_token="))).toBe(true);
    // Used up: the same link no longer works; the stored hash is not the token.
    expect(await code(api.caller(null).tenant.acceptInvitation({ token, name: "Again", password: "a-good-long-password" }))).toMatch(/^NOT_FOUND: This invitation is not valid/);
    expect(JSON.stringify(await api.db.invitation.findMany())).not.toContain(token);
    const caller = await session("new.person@acme.test", "a-good-long-password");
    expect((await (await caller()).auth.me())?.role).toBe("user");
    // Inviting an existing account is a conflict; an expired invitation says so.
    expect(await code(api.caller(boss).tenant.invite({ email: "new.person@acme.test" }))).toMatch(/^CONFLICT: new.person@acme.test is already a member of this tenant/);
    // Another tenant's admin learns nothing from inviting that email: the invitation is made, and
    // accepting it is refused as a mistyped link is (invitations.test.ts).
    const rival = await api.makeUser("rival", "tenant_admin");
    const probe = await api.caller(rival).tenant.invite({ email: "new.person@acme.test" });
    expect(probe.email).toBe("new.person@acme.test");
    expect(await code(api.caller(null, client()).tenant.acceptInvitation({ token: probe.path.split("/").pop()!, name: "X", password: "a-good-long-password" }))).toMatch(/^NOT_FOUND: This invitation is not valid/);
    const old = await api.caller(boss).tenant.invite({ email: "late@acme.test" });
    await api.db.invitation.update({ where: { id: old.invitationId }, data: { expiresAt: new Date(Date.now() - 1000) } });
    expect(await code(api.caller(null).tenant.invitation({ token: old.path.split("/").pop()! }))).toMatch(/^PRECONDITION_FAILED: This invitation has expired/);
  });

  it("changes roles and revokes access: sessions end at once and login is refused", async () => {
    const members = await api.caller(boss).tenant.members({});
    const person = members.find((m) => m.email === "new.person@acme.test")!;
    await api.caller(boss).tenant.setRole({ userId: person.id, role: "tenant_admin" });
    expect((await api.db.user.findUniqueOrThrow({ where: { id: person.id } })).role).toBe("tenant_admin");
    expect(await code(api.caller(boss).tenant.setRole({ userId: boss.userId, role: "user" }))).toMatch(/^BAD_REQUEST: You cannot change your own role/);
    const caller = await session("new.person@acme.test", "a-good-long-password");
    expect(await (await caller()).auth.me()).not.toBeNull();
    await api.caller(boss).tenant.setAccess({ userId: person.id, enabled: false });
    expect(await (await caller()).auth.me()).toBeNull();
    expect(await code(session("new.person@acme.test", "a-good-long-password"))).toMatch(/^(UNAUTHORIZED|FORBIDDEN)/);
    await api.caller(boss).tenant.setAccess({ userId: person.id, enabled: true });
    expect(await code(session("new.person@acme.test", "a-good-long-password"))).toBe("ok");
    // Platform admins are out of a tenant admin's reach.
    expect(await code(api.caller(boss).tenant.setAccess({ userId: platform.userId, enabled: false }))).toMatch(/^(NOT_FOUND|FORBIDDEN)/);
  });

  it("lets platform admins list tenants with usage, create tenants and set quotas", async () => {
    const { tenantId } = await api.caller(platform).tenant.create({ slug: "new-co", name: "New Co" });
    await api.caller(platform).tenant.setQuotas({ tenantId, vms: 2, snapshots: 3 });
    const t = (await api.caller(platform).tenant.list()).find((x) => x.slug === "new-co")!;
    expect(t.limits).toMatchObject({ vms: 2, snapshots: 3 });
    expect(t.used).toEqual({ vms: 0, vcpus: 0, memoryMiB: 0, diskGiB: 0, snapshots: 0 });
    expect(await code(api.caller(platform).tenant.create({ slug: "new-co", name: "Dup" }))).toMatch(/^CONFLICT/);
    expect(await code(api.caller(platform).tenant.setQuotas({ tenantId, vms: -1 }))).toMatch(/^BAD_REQUEST/);
    // The change is in that tenant's trail, where its own admins look, not the platform admin's.
    const row = await api.db.auditEvent.findFirstOrThrow({ where: { action: "tenant.setQuotas", outcome: "ok", actorId: platform.userId } });
    expect(row.tenantId).toBe(tenantId);
  });
});
