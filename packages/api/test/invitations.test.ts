// Invitations as an inviter can probe them: nothing in an answer tells whether an email has an
// account in another tenant, a refused accept spends nothing and changes no account, and a
// platform admin gives a new tenant its first admin (recorded in that tenant's trail).
import { describe, it, expect, beforeAll, afterAll } from "vitest";
import { TRPCError } from "@trpc/server";
import { openTestApi, providers, type TestApi } from "./harness.ts";
import { appRouter, createCallerFactory, type Actor } from "../src/index.ts";

async function code(p: Promise<unknown>): Promise<string> {
  try { await p; } catch (e) { return e instanceof TRPCError ? `${e.code}: ${e.message}` : `other: ${String(e)}`; }
  return "ok";
}
const tokenOf = (inv: { path: string }) => inv.path.split("/").pop()!;
/** Keys and value types of an answer, without the values (ids, tokens and emails differ by nature). */
const shapeOf = (o: object) => Object.entries(o).map(([k, v]) => `${k}:${v instanceof Date ? "date" : typeof v}`).sort();

describe.each(providers)("invitations on %s", (provider) => {
  let api: TestApi;
  let acmeAdmin: Actor;
  let rival: Actor;
  let platform: Actor;
  let known: Actor;

  beforeAll(async () => {
    api = await openTestApi(provider);
    acmeAdmin = await api.makeUser("acme", "tenant_admin");
    known = await api.makeUser("acme", "user");
    rival = await api.makeUser("rival", "tenant_admin");
    platform = await api.makeUser("platform", "admin");
  });
  afterAll(async () => api?.close());

  let clients = 0;
  /** Accepts anonymously from a fresh client address (sign-ins are rate-limited per address). */
  function accept(token: string, password = "a-good-long-password") {
    const headers = new Headers({ "x-vdi-client-ip": `198.51.${provider === "sqlite" ? 110 : 111}.${++clients}` });
    return createCallerFactory(appRouter)({ ...api.deps, headers, resHeaders: new Headers(), ip: null, actor: null })
      .tenant.acceptInvitation({ token, name: "Probe", password });
  }

  it("answers an inviter the same for an email with an account elsewhere and for a new one, and a refused accept spends nothing", async () => {
    const before = await api.db.user.findUniqueOrThrow({ where: { id: known.userId }, include: { accounts: true } });
    const elsewhere = await api.caller(rival).tenant.invite({ email: known.email });
    const fresh = await api.caller(rival).tenant.invite({ email: "nobody-yet@rival.test" });
    expect(shapeOf(elsewhere)).toEqual(shapeOf(fresh));
    const shown = await api.caller(null).tenant.invitation({ token: tokenOf(elsewhere) });
    expect(shapeOf(shown)).toEqual(shapeOf(await api.caller(null).tenant.invitation({ token: tokenOf(fresh) })));

    // Accepting it is refused exactly as a mistyped link is: no word of an account.
    const refusal = await code(accept(tokenOf(elsewhere)));
    expect(refusal).toBe(await code(accept("m".repeat(32))));
    expect(refusal).not.toMatch(/already has an account|CONFLICT/);
    expect(refusal).not.toContain(known.email);
    // Not spent: still open and still shown; the account is untouched (tenant, role, password).
    expect((await api.db.invitation.findUniqueOrThrow({ where: { id: elsewhere.invitationId } })).acceptedAt).toBeNull();
    expect(await code(api.caller(null).tenant.invitation({ token: tokenOf(elsewhere) }))).toBe("ok");
    expect(await api.db.user.findUniqueOrThrow({ where: { id: known.userId }, include: { accounts: true } })).toEqual(before);
    // Nor does the refusal's audit line name it.
    const line = await api.db.auditEvent.findFirstOrThrow({ where: { action: "tenant.acceptInvitation" }, orderBy: { at: "asc" } });
    expect(line.detail ?? "").not.toMatch(/already has an account/);
  });

  it("lets one of two concurrent accepts of the same new email (two tenants) win; the other changes nothing", async () => {
    const email = "contested@x.test";
    const fromAcme = await api.caller(acmeAdmin).tenant.invite({ email });
    const fromRival = await api.caller(rival).tenant.invite({ email });
    const results = await Promise.all([code(accept(tokenOf(fromAcme), "acme-long-password")), code(accept(tokenOf(fromRival), "rival-long-password"))]);
    expect(results.filter((r) => r === "ok")).toHaveLength(1);
    const winner = results[0] === "ok" ? acmeAdmin.tenantId : rival.tenantId;
    const loser = results[0] === "ok" ? fromRival : fromAcme;
    expect((await api.db.user.findUniqueOrThrow({ where: { email } })).tenantId).toBe(winner);
    expect((await api.db.invitation.findUniqueOrThrow({ where: { id: loser.invitationId } })).acceptedAt).toBeNull();
  });

  it("lets a platform admin invite a new tenant's first admin, recorded in that tenant's trail; others may not name a tenant", async () => {
    const { tenantId } = await api.caller(platform).tenant.create({ slug: "fresh-co", name: "Fresh Co" });
    const inv = await api.caller(platform).tenant.invite({ tenantId, email: "first@fresh.test", role: "tenant_admin" });
    expect((await api.db.invitation.findUniqueOrThrow({ where: { id: inv.invitationId } })).tenantId).toBe(tenantId);
    expect(await api.caller(null).tenant.invitation({ token: tokenOf(inv) })).toMatchObject({ tenant: "Fresh Co", role: "tenant_admin" });
    const line = await api.db.auditEvent.findFirstOrThrow({ where: { action: "tenant.invite", outcome: "ok", actorId: platform.userId } });
    expect(line.tenantId).toBe(tenantId);
    const joined = await accept(tokenOf(inv));
    expect(joined.tenantId).toBe(tenantId);
    expect((await api.db.user.findUniqueOrThrow({ where: { id: joined.userId } })).role).toBe("tenant_admin");

    // Tenant admins (even naming their own tenant) may not; an unknown tenant is not found.
    expect(await code(api.caller(rival).tenant.invite({ tenantId, email: "sneak@fresh.test" }))).toMatch(/^FORBIDDEN/);
    expect(await code(api.caller(rival).tenant.invite({ tenantId: rival.tenantId, email: "own@rival.test" }))).toMatch(/^FORBIDDEN/);
    expect(await code(api.caller(platform).tenant.invite({ tenantId: "nosuchtenant", email: "x@y.test" }))).toMatch(/^NOT_FOUND/);
    expect(await api.db.invitation.count({ where: { email: { in: ["sneak@fresh.test", "own@rival.test", "x@y.test"] } } })).toBe(0);
    // Without a tenant named, a platform admin invites into their own, as before.
    const own = await api.caller(platform).tenant.invite({ email: "colleague@platform.test" });
    expect((await api.db.invitation.findUniqueOrThrow({ where: { id: own.invitationId } })).tenantId).toBe(platform.tenantId);
  });
});
