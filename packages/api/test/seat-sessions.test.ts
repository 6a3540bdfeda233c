// Seat sessions, desktop pools and the jobs room (docs/seating.md) on both databases: a pool's
// warm set is filled by the jobs room (never twice, even with two runners at once, and again
// after a runner died mid-job); a user at a seat gets a warm desktop (non-persistent) or the same
// one every time (persistent); logging in at seat B ends seat A's session with "continued at
// seat B", which the node hears in its sync; logout throws a non-persistent desktop away; the
// disconnect timer saves a persistent desktop and the next login restores it; the idle timer logs
// off; the login-time breakdown reaches the pool list. A node registered through the API reports
// the VMs' states.
import { describe, it, expect, beforeAll, afterAll } from "vitest";
import { code, openTestApi, providers, type TestApi } from "./harness.ts";
import { seed, runDueJobs, type Actor } from "../src/index.ts";
import { verifyConsoleToken } from "@vdi/node-protocol/capability-token";

const caps = { engines: { qemu: { available: true, version: "7.2", accel: "tcg" } }, images: ["debian-desktop"] };
const template = { name: "debian-desktop", title: "Debian desktop", engine: "qemu" as const, defaultMemoryMiB: 256, minMemoryMiB: 128, maxMemoryMiB: 1024, defaultCpus: 1, maxCpus: 2, diskSizeGiB: 1, desktop: { rdpPort: 3389 } };

const REPORTED: Record<string, string> = { running: "running", paused: "paused", saved: "saved", stopped: "stopped", deleted: "deleted" };

describe.each(providers)("seat sessions and pools on %s", (provider) => {
  let api: TestApi;
  let admin: Actor, ann: Actor, bob: Actor;
  let templateId: string;
  let node: ReturnType<TestApi["caller"]>;
  const deps = () => ({ db: api.db, nodeDownAfterMs: 20_000 });
  const seats: Record<string, { seatId: string; secret: string }> = {};

  /** The node carries out everything asked of it: each VM reaches its desired state. */
  async function settle() {
    const vms = await api.db.vm.findMany();
    await node.nodeAgent.sync({
      vms: vms.map((v) => ({ id: v.id, state: REPORTED[v.desiredState] as "running", ...(v.lastOpId ? { op: { id: v.lastOpId, status: "succeeded" as const, progress: 100 } } : {}) })),
    });
  }
  async function seat(name: string, poolId: string | null) {
    const s = await api.caller(admin).seat.register({ name, poolId });
    seats[name] = { seatId: s.seatId, secret: s.enrollPath.split("enroll=")[1]! };
    return seats[name]!;
  }

  beforeAll(async () => {
    api = await openTestApi(provider);
    await seed(api.deps, { admin: { email: "root@x.test", password: "admin-password" }, demo: { email: "demo@x.test", password: "demo-password" }, templates: [template] });
    admin = await api.makeUser("office", "tenant_admin");
    ann = await api.makeUser("office", "user");
    bob = await api.makeUser("office", "user");
    templateId = (await api.caller(admin).template.list()).find((t) => t.title === "Debian desktop")!.id;
    const reg = await api.caller(null).nodeAgent.register({ joinToken: "test-join-token-0123456789", name: "n1", apiUrl: "http://127.0.0.1:1", consoleUrl: "ws://127.0.0.1:1", totalCpus: 64, totalMemoryMiB: 65536, capabilities: caps });
    node = api.caller(null, new Headers({ authorization: `Bearer node.${reg.nodeId}.${reg.secret}` }));
  });
  afterAll(async () => api?.close());

  let npool: string;
  it("fills a non-persistent pool's warm set in the jobs room, once, even with two runners at once", async () => {
    expect(await code(api.caller(admin).pool.create({ name: "Call centre", templateId, policy: "nonpersistent", warmSize: 5, maxSize: 3, perUserLimit: 1, disconnectMinutes: 5, idleLogoffMinutes: 30 })))
      .toBe("BAD_REQUEST: The warm set (5) cannot be larger than the pool (3)");
    expect(await code(api.caller(ann).pool.create({ name: "Mine", templateId, policy: "persistent", warmSize: 0, maxSize: 3, perUserLimit: 1, disconnectMinutes: 5, idleLogoffMinutes: 30 }))).toMatch(/^FORBIDDEN/);
    npool = (await api.caller(admin).pool.create({ name: "Call centre", templateId, policy: "nonpersistent", warmSize: 2, maxSize: 3, perUserLimit: 1, disconnectMinutes: 5, idleLogoffMinutes: 30 })).poolId;
    // Two portals' runners at the same moment: the job runs once.
    const ran = await Promise.all([runDueJobs(deps(), "portal-a"), runDueJobs(deps(), "portal-b")]);
    expect(ran[0]! + ran[1]!).toBe(1);
    const desktops = await api.db.poolDesktop.findMany({ where: { poolId: npool } });
    expect(desktops.map((d) => d.state)).toEqual(["warm", "warm"]);
    // Warm desktops are the pool creator's VMs, in the tenant's quota.
    const vms = await api.db.vm.findMany({ where: { id: { in: desktops.map((d) => d.vmId) } } });
    expect(vms.every((v) => v.ownerId === admin.userId && v.tenantId === admin.tenantId)).toBe(true);
    expect((await api.caller(admin).tenant.usage()).used.vms).toBe(2);
    // Nothing more to do when asked again: the warm set is full.
    await api.db.job.updateMany({ data: { runAt: new Date(0) } });
    await runDueJobs(deps(), "portal-a");
    expect(await api.db.poolDesktop.count({ where: { poolId: npool } })).toBe(2);
    await settle();
  });

  it("takes over a job whose runner died once its lease ends, and not before", async () => {
    await api.db.poolDesktop.deleteMany({ where: { poolId: npool, state: "warm" } }).then(() => undefined);
    // A runner claimed the refill and died: its lease holds the job.
    await api.db.job.updateMany({ where: { key: `pool.refill:${npool}` }, data: { runAt: new Date(0), leaseOwner: "dead-portal", leaseUntil: new Date(Date.now() + 60_000) } });
    expect(await runDueJobs(deps(), "portal-a")).toBe(0);
    await api.db.job.updateMany({ where: { key: `pool.refill:${npool}` }, data: { leaseUntil: new Date(Date.now() - 1) } });
    expect(await runDueJobs(deps(), "portal-a")).toBe(1);
    // The desktops whose rows went were the pool's (their VMs are left alone: not its rows any more); two new warm ones.
    expect(await api.db.poolDesktop.count({ where: { poolId: npool, state: "warm" } })).toBe(2);
    await settle();
  });

  let sessionA: string, vmA: string;
  it("hands a warm desktop to a user at a seat of the pool, and the user owns it while it is theirs", async () => {
    const a = await seat("Desk A", npool);
    const got = await api.caller(ann).seat.connect({ ...a, authMs: 120 });
    expect(got.path).toBe("warm");
    sessionA = got.sessionId;
    vmA = got.vmId;
    const vm = await api.db.vm.findUniqueOrThrow({ where: { id: vmA } });
    expect(vm.ownerId).toBe(ann.userId);
    expect((await api.db.poolDesktop.findUniqueOrThrow({ where: { vmId: vmA } })).state).toBe("assigned");
    // The console token is bound to the seat session.
    const c = await api.caller(ann).seat.console({ ...a, sessionId: sessionA });
    const claims = verifyConsoleToken(new URL(c.url).searchParams.get("token")!, api.deps.consoleSigner.publicKeyPem);
    expect(claims.ok && claims.claims).toMatchObject({ vm: vmA, user: ann.userId, proto: "rdp", ss: sessionA });
    // Another user cannot poll or use ann's session.
    expect(await code(api.caller(bob).seat.session({ ...a, sessionId: sessionA, input: false }))).toBe("NOT_FOUND: Seat session not found");
    // The refill makes a warm one again.
    await runDueJobs(deps(), "portal-a");
    expect(await api.db.poolDesktop.count({ where: { poolId: npool, state: "warm" } })).toBe(2);
    await settle();
  });

  it("roams: logging in at seat B gives the same desktop and ends A's session with 'continued at seat B', which the node hears", async () => {
    const b = await seat("Desk B", npool);
    const got = await api.caller(ann).seat.connect({ ...b, authMs: 90 });
    expect(got.vmId).toBe(vmA);
    expect(got.path).toBe("running");
    const a = seats["Desk A"]!;
    expect(await api.caller(ann).seat.session({ ...a, sessionId: sessionA, input: false })).toMatchObject({ ended: "continued at seat Desk B" });
    expect(await code(api.caller(ann).seat.console({ ...a, sessionId: sessionA }))).toBe("PRECONDITION_FAILED: This seat session ended: continued at seat Desk B");
    const synced = await node.nodeAgent.sync({ vms: [] });
    expect(synced.endedSeatSessions).toContainEqual({ id: sessionA, reason: "continued at seat Desk B" });
    const state = await api.caller(ann).seat.session({ ...b, sessionId: got.sessionId, input: true });
    expect(state).toMatchObject({ ended: null, vm: { id: vmA, state: "running", consoles: ["rdp", "vnc"] } });
    // Logging out at B throws the non-persistent desktop away; the refill deletes it.
    await api.caller(ann).seat.logout({ ...b, sessionId: got.sessionId });
    expect((await api.db.poolDesktop.findUniqueOrThrow({ where: { vmId: vmA } })).state).toBe("resetting");
    await runDueJobs(deps(), "portal-a");
    expect((await api.db.vm.findUniqueOrThrow({ where: { id: vmA } })).desiredState).toBe("deleted");
    await settle();  // the node deletes it
    expect(await api.db.vm.findUnique({ where: { id: vmA } })).toBeNull();
    await api.db.job.updateMany({ data: { runAt: new Date(0) } });
    await runDueJobs(deps(), "portal-a");
    expect(await api.db.poolDesktop.findUnique({ where: { vmId: vmA } })).toBeNull();
    // The next user gets a fresh desktop, never the one ann used.
    const next = await api.caller(bob).seat.connect({ ...b, authMs: 50 });
    expect(next.vmId).not.toBe(vmA);
  });

  it("one user per seat: another user logging in at a seat ends the session there", async () => {
    const b = seats["Desk B"]!;
    const bobs = await api.db.seatSession.findFirstOrThrow({ where: { seatId: b.seatId, userId: bob.userId, endedAt: null } });
    await api.caller(ann).seat.connect({ ...b, authMs: 50 });
    expect((await api.db.seatSession.findUniqueOrThrow({ where: { id: bobs.id } })).endReason).toBe("another user logged in at seat Desk B");
  });

  it("gives logins at the same moment distinct desktops, never more than the pool's size, refuses the rest in words, and refills", async () => {
    const burst = (await api.caller(admin).pool.create({ name: "Burst", templateId, policy: "nonpersistent", warmSize: 2, maxSize: 4, perUserLimit: 1, disconnectMinutes: 5, idleLogoffMinutes: 30 })).poolId;
    await api.db.job.updateMany({ data: { runAt: new Date(0) } });
    await runDueJobs(deps(), "portal-a");
    await settle();
    expect(await api.db.poolDesktop.count({ where: { poolId: burst, state: "warm" } })).toBe(2);
    const users = await Promise.all(Array.from({ length: 6 }, () => api.makeUser("office", "user")));
    const desks = await Promise.all(users.map((_, i) => seat(`Burst ${i}`, burst)));
    const got = await Promise.all(users.map((u, i) => api.caller(u).seat.connect({ ...desks[i]!, authMs: 10 }).then((r) => `ok ${r.vmId} ${r.path}`, (e: unknown) => code(Promise.reject(e)))));
    const ok = got.filter((g) => g.startsWith("ok "));
    expect(ok).toHaveLength(4);
    expect(new Set(ok.map((g) => g.split(" ")[1])).size).toBe(4);
    expect(ok.filter((g) => g.endsWith(" warm"))).toHaveLength(2);
    expect(got.filter((g) => !g.startsWith("ok "))).toEqual(Array(2).fill('SERVICE_UNAVAILABLE: All 4 desktops of pool "Burst" are in use: try again later, or ask your administrator'));
    expect(await api.db.poolDesktop.count({ where: { poolId: burst } })).toBe(4);
    // The refill cannot go past the pool's size; once users log out, their desktops are replaced by warm ones.
    await api.db.job.updateMany({ data: { runAt: new Date(0) } });
    await runDueJobs(deps(), "portal-a");
    expect(await api.db.poolDesktop.count({ where: { poolId: burst } })).toBe(4);
    await settle();
    for (const [i, u] of users.entries()) {
      const s = await api.db.seatSession.findFirst({ where: { userId: u.userId, endedAt: null } });
      if (s) await api.caller(u).seat.logout({ ...desks[i]!, sessionId: s.id });
    }
    await api.db.job.updateMany({ data: { runAt: new Date(0) } });
    await runDueJobs(deps(), "portal-a");
    await settle();
    await api.db.job.updateMany({ data: { runAt: new Date(0) } });
    await runDueJobs(deps(), "portal-a");
    expect(await api.db.poolDesktop.count({ where: { poolId: burst, state: "warm" } })).toBe(2);
    expect(await api.db.poolDesktop.count({ where: { poolId: burst, state: { not: "warm" } } })).toBe(0);
  });

  let ppool: string, vmP: string;
  it("persistent: the same desktop every time; the disconnect timer saves it, and the next login restores it", async () => {
    ppool = (await api.caller(admin).pool.create({ name: "Engineers", templateId, policy: "persistent", warmSize: 0, maxSize: 5, perUserLimit: 1, disconnectMinutes: 10, idleLogoffMinutes: 60 })).poolId;
    const c = await seat("Desk C", ppool);
    const first = await api.caller(bob).seat.connect({ ...c, authMs: 80 });
    expect(first.path).toBe("created");
    vmP = first.vmId;
    await settle();
    await api.caller(bob).seat.logout({ ...c, sessionId: first.sessionId });
    const again = await api.caller(bob).seat.connect({ ...c, authMs: 80 });
    expect(again).toMatchObject({ vmId: vmP, path: "running" });
    // The kiosk went silent 11 minutes ago: the timer ends the session and saves the desktop.
    await api.db.seatSession.update({ where: { id: again.sessionId }, data: { lastSeenAt: new Date(Date.now() - 11 * 60_000) } });
    await api.db.job.updateMany({ data: { runAt: new Date(0) } });
    await runDueJobs(deps(), "portal-a");
    expect((await api.db.seatSession.findUniqueOrThrow({ where: { id: again.sessionId } })).endReason).toBe("disconnected for 10 minutes");
    expect(await api.db.vm.findUniqueOrThrow({ where: { id: vmP } })).toMatchObject({ desiredState: "saved", lastOpKind: "save" });
    await settle();
    // Start on connect: the next login restores it.
    const back = await api.caller(bob).seat.connect({ ...c, authMs: 70 });
    expect(back).toMatchObject({ vmId: vmP, path: "restored" });
    expect(await api.db.vm.findUniqueOrThrow({ where: { id: vmP } })).toMatchObject({ desiredState: "running", lastOpKind: "start" });
    const waiting = await api.caller(bob).seat.session({ ...c, sessionId: back.sessionId, input: false });
    expect(waiting).toMatchObject({ ended: null, vm: { state: "saved" }, progress: { kind: "start" } });
    await settle();
    await api.caller(bob).seat.session({ ...c, sessionId: back.sessionId, input: false });
    await api.caller(bob).seat.firstFrame({ ...c, sessionId: back.sessionId, ms: 1500 });
    const timing = await api.db.loginTiming.findUniqueOrThrow({ where: { sessionId: back.sessionId } });
    expect(timing).toMatchObject({ path: "restored", authMs: 70, firstFrameMs: 1500 });
    expect(timing.startMs).not.toBeNull();
  });

  it("logs off an idle user and shows the login-time breakdown per pool", async () => {
    const c = seats["Desk C"]!;
    const open = await api.db.seatSession.findFirstOrThrow({ where: { seatId: c.seatId, endedAt: null } });
    await api.db.seatSession.update({ where: { id: open.id }, data: { lastInputAt: new Date(Date.now() - 61 * 60_000) } });
    await api.db.job.updateMany({ data: { runAt: new Date(0) } });
    await runDueJobs(deps(), "portal-a");
    expect((await api.db.seatSession.findUniqueOrThrow({ where: { id: open.id } })).endReason).toBe("logged off after 60 minutes without input");
    // Persistent: the desktop stays the user's.
    expect((await api.db.poolDesktop.findUniqueOrThrow({ where: { vmId: vmP } })).state).toBe("assigned");
    const { pools } = await api.caller(admin).pool.list();
    const eng = pools.find((p) => p.name === "Engineers")!;
    expect(eng.loginTimes.logins).toBe(3);
    expect(eng.loginTimes.phases.authMs).toMatchObject({ p50: 80, p95: 80, n: 3 });
    expect(eng.loginTimes.phases.firstFrameMs).toMatchObject({ p50: 1500, n: 1 });
    expect(eng.desktops).toEqual({ warm: 0, assigned: 1, resetting: 0, suspended: 0, stopped: 0 });
    expect(eng.seats).toEqual(["Desk C"]);
    // Other users see no pools; another tenant's admin none of these.
    expect(await code(api.caller(ann).pool.list())).toMatch(/^FORBIDDEN/);
    const stranger = await api.makeUser("elsewhere", "tenant_admin");
    expect((await api.caller(stranger).pool.list()).pools).toEqual([]);
    expect(await code(api.caller(stranger).seat.connect({ ...c, authMs: 1 }))).toBe("FORBIDDEN: This seat belongs to another organization: log in at one of yours");
    // A pool with a user's desktop is not deleted under them.
    expect(await code(api.caller(admin).pool.delete({ poolId: ppool }))).toBe('PRECONDITION_FAILED: Pool "Engineers" has 1 user desktop: delete it first');
  });

  it("admins see who sits where; a shadow is view only until the user gives control, the user sees it and can end it; disconnect and log off", async () => {
    const c = seats["Desk C"]!;
    const s = await api.caller(bob).seat.connect({ ...c, authMs: 10 });
    expect(s.vmId).toBe(vmP);
    const list = await api.caller(admin).session.list();
    expect(list.find((r) => r.sessionId === s.sessionId)).toMatchObject({ seat: "Desk C", state: "connected", vm: { id: vmP }, pool: { name: "Engineers", policy: "persistent" }, shadow: null });
    expect((await api.caller(admin).seat.list()).find((x) => x.name === "Desk C")?.sittingNow).toBe((await api.db.user.findUniqueOrThrow({ where: { id: bob.userId } })).email);
    // Users and other tenants' admins see nothing of it.
    expect(await code(api.caller(bob).session.list())).toMatch(/^FORBIDDEN/);
    const stranger = await api.makeUser("elsewhere", "tenant_admin");
    expect(await api.caller(stranger).session.list()).toEqual([]);
    expect(await code(api.caller(stranger).session.shadow({ sessionId: s.sessionId }))).toBe("NOT_FOUND: Seat session not found");
    // View only: the token says so, and names the session and the grant.
    const sh = await api.caller(admin).session.shadow({ sessionId: s.sessionId });
    const tokenOf = (url: string) => { const v = verifyConsoleToken(new URL(url).searchParams.get("token")!, api.deps.consoleSigner.publicKeyPem); if (!v.ok) throw new Error(v.reason); return v.claims; };
    expect(tokenOf((await api.caller(admin).session.shadowConsole({ shadowId: sh.shadowId })).url)).toMatchObject({ vm: vmP, user: admin.userId, ss: s.sessionId, sh: sh.shadowId, ro: true });
    // One helpdesk at a time; the same admin gets the same shadow.
    const admin2 = await api.makeUser("office", "tenant_admin");
    expect(await code(api.caller(admin2).session.shadow({ sessionId: s.sessionId }))).toMatch(/^CONFLICT: .* is already watching this session$/);
    expect((await api.caller(admin).session.shadow({ sessionId: s.sessionId })).shadowId).toBe(sh.shadowId);
    expect(await code(api.caller(admin2).session.shadowConsole({ shadowId: sh.shadowId }))).toBe("NOT_FOUND: Shadow session not found");
    // The user's banner shows it; control is asked, and given.
    await api.caller(admin).session.askControl({ shadowId: sh.shadowId });
    const banner = (await api.caller(bob).seat.session({ ...c, sessionId: s.sessionId, input: false })) as { shadow: unknown };
    expect(banner.shadow).toMatchObject({ shadowId: sh.shadowId, control: false, controlAsked: true });
    expect(await code(api.caller(ann).seat.shadowAnswer({ ...c, sessionId: s.sessionId, shadowId: sh.shadowId, answer: "allow" }))).toBe("NOT_FOUND: Seat session not found");
    const given = await api.caller(bob).seat.shadowAnswer({ ...c, sessionId: s.sessionId, shadowId: sh.shadowId, answer: "allow" });
    expect(given.shadowId).not.toBe(sh.shadowId);
    // The view-only grant ended (its console closes on the node); the admin follows to the new one, with control.
    expect(await api.caller(admin).session.shadowState({ shadowId: sh.shadowId })).toMatchObject({ shadowId: given.shadowId, ended: null, control: true });
    expect((await node.nodeAgent.sync({ vms: [] })).endedSeatSessions).toContainEqual({ id: sh.shadowId, reason: "the user gave control" });
    const ctl = tokenOf((await api.caller(admin).session.shadowConsole({ shadowId: given.shadowId })).url);
    expect(ctl).toMatchObject({ sh: given.shadowId });
    expect(ctl.ro).toBeUndefined();
    expect(await code(api.caller(admin).session.shadowConsole({ shadowId: sh.shadowId }))).toBe("PRECONDITION_FAILED: This shadow session ended: the user gave control");
    // The user takes control back, then ends the shadowing.
    const back = await api.caller(bob).seat.shadowAnswer({ ...c, sessionId: s.sessionId, shadowId: given.shadowId, answer: "take-back" });
    expect(await api.caller(admin).session.shadowState({ shadowId: sh.shadowId })).toMatchObject({ shadowId: back.shadowId, control: false });
    await api.caller(bob).seat.shadowAnswer({ ...c, sessionId: s.sessionId, shadowId: back.shadowId, answer: "stop" });
    expect(await api.caller(admin).session.shadowState({ shadowId: sh.shadowId })).toMatchObject({ ended: "the user ended the helpdesk session" });
    expect(((await api.caller(bob).seat.session({ ...c, sessionId: s.sessionId, input: false })) as { shadow: unknown }).shadow).toBeNull();
    // Every step is in the audit trail, with the shadow as its target.
    const trail = await api.db.auditEvent.findMany({ where: { tenantId: admin.tenantId, action: { in: ["session.shadow", "session.askControl", "seat.shadowAnswer"] }, outcome: "ok" } });
    expect(trail.map((e) => e.action).sort()).toEqual(["seat.shadowAnswer", "seat.shadowAnswer", "seat.shadowAnswer", "session.askControl", "session.shadow", "session.shadow"]);
    expect(trail.find((e) => e.action === "session.askControl")).toMatchObject({ targetType: "shadow", targetId: sh.shadowId });
    // A shadow ends with its session: disconnect keeps the desktop running for the disconnect timer.
    const again = await api.caller(admin).session.shadow({ sessionId: s.sessionId });
    await api.caller(admin).session.end({ sessionId: s.sessionId, how: "disconnect" });
    expect(await api.caller(bob).seat.session({ ...c, sessionId: s.sessionId, input: false })).toMatchObject({ ended: "disconnected by an administrator" });
    expect(await api.caller(admin).session.shadowState({ shadowId: again.shadowId })).toMatchObject({ ended: "the session ended: disconnected by an administrator" });
    expect(await api.db.vm.findUniqueOrThrow({ where: { id: vmP } })).toMatchObject({ desiredState: "running" });
    expect(await code(api.caller(admin).session.end({ sessionId: s.sessionId, how: "logoff" }))).toBe("PRECONDITION_FAILED: This session already ended: disconnected by an administrator");
    // Log off: the user's desktop session ends too (a persistent desktop is shut down).
    const s2 = await api.caller(bob).seat.connect({ ...c, authMs: 10 });
    await api.caller(admin).session.end({ sessionId: s2.sessionId, how: "logoff" });
    expect(await api.db.vm.findUniqueOrThrow({ where: { id: vmP } })).toMatchObject({ desiredState: "stopped", lastOpKind: "stop" });
    expect((await api.caller(admin).session.list()).find((r) => r.sessionId === s2.sessionId)).toMatchObject({ state: "ended", endReason: "logged off by an administrator" });
    await settle();
    // The next login starts it again (start on connect).
    const s3 = await api.caller(bob).seat.connect({ ...c, authMs: 10 });
    expect(s3).toMatchObject({ vmId: vmP, path: "started" });
    await settle();
    await api.caller(bob).seat.logout({ ...c, sessionId: s3.sessionId });
  });

  it("revoking a seat ends its session at once", async () => {
    const a = seats["Desk A"]!;
    const s = await api.caller(bob).seat.connect({ ...a, authMs: 10 });
    await api.caller(admin).seat.revoke({ seatId: a.seatId });
    expect((await api.db.seatSession.findUniqueOrThrow({ where: { id: s.sessionId } })).endReason).toBe('seat "Desk A" was revoked');
    expect(await code(api.caller(bob).seat.session({ ...a, sessionId: s.sessionId, input: false }))).toMatch(/^FORBIDDEN: Seat "Desk A" was revoked/);
  });
});
