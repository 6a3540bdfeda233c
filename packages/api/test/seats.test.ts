// Seats of thin clients (docs/seating.md) on both databases: a tenant admin registers a seat and
// gets its enrollment link once; the kiosk names itself with the link's secret; a wrong secret,
// an unknown seat and a revoked seat each get a clear refusal; names are unique per tenant; the
// trail records register and revoke; another tenant sees none of it.
import { describe, it, expect, beforeAll, afterAll } from "vitest";
import { openTestApi, providers, type TestApi } from "./harness.ts";
import type { Actor } from "../src/index.ts";
import { enrollSeat } from "../src/services/seat/seat-cookie.ts";

describe.each(providers)("seats on %s", (provider) => {
  let api: TestApi;
  let admin: Actor, user: Actor, other: Actor;
  beforeAll(async () => {
    api = await openTestApi(provider);
    admin = await api.makeUser("tenant-s", "tenant_admin");
    user = await api.makeUser("tenant-s", "user");
    other = await api.makeUser("tenant-o", "tenant_admin");
  });
  afterAll(async () => api?.close());

  it("registers a seat with a one-time enrollment link whose secret names the seat to the kiosk", async () => {
    const seat = await api.caller(admin).seat.register({ name: "Desk 4.12", location: "Floor 4, east" });
    const m = /^\/seat\/([a-z0-9]+)\?enroll=([A-Za-z0-9_-]{43})$/.exec(seat.enrollPath);
    expect(m?.[1]).toBe(seat.seatId);
    const secret = m![2]!;
    // Only a hash is kept.
    const row = await api.db.seat.findUniqueOrThrow({ where: { id: seat.seatId } });
    expect(row.secretHash).not.toContain(secret);
    expect(row.secretHash).toMatch(/^[0-9a-f]{64}$/);
    expect(row.lastSeenAt).toBeNull();

    const hello = await api.caller(null).seat.hello({ seatId: seat.seatId, secret });
    expect(hello).toEqual({ seatId: seat.seatId, name: "Desk 4.12", location: "Floor 4, east", tenant: expect.any(String), pool: null });
    expect((await api.db.seat.findUniqueOrThrow({ where: { id: seat.seatId } })).lastSeenAt).not.toBeNull();
    // The list never shows the secret; it is not shown again.
    const listed = await api.caller(admin).seat.list();
    expect(listed.map((s) => s.name)).toContain("Desk 4.12");
    expect(JSON.stringify(listed)).not.toContain(secret);
    expect(JSON.stringify(listed)).not.toContain(row.secretHash);
  });

  it("refuses a wrong secret, an unknown seat and a revoked seat, each with a clear message", async () => {
    const seat = await api.caller(admin).seat.register({ name: "Desk 7" });
    const secret = seat.enrollPath.split("enroll=")[1]!;
    const wrong = `${secret.slice(0, -1)}${secret.endsWith("A") ? "B" : "A"}`;
    await expect(api.caller(null).seat.hello({ seatId: seat.seatId, secret: wrong })).rejects.toMatchObject({ code: "UNAUTHORIZED", message: expect.stringMatching(/not registered \(or its link is wrong\)/) });
    await expect(api.caller(null).seat.hello({ seatId: "nosuchseat", secret })).rejects.toMatchObject({ code: "UNAUTHORIZED" });
    await expect(api.caller(null).seat.hello({ seatId: seat.seatId, secret: "short" })).rejects.toMatchObject({ code: "BAD_REQUEST" });
    // Another tenant's admin cannot revoke it, nor sees it.
    await expect(api.caller(other).seat.revoke({ seatId: seat.seatId })).rejects.toMatchObject({ code: "NOT_FOUND" });
    expect(await api.caller(other).seat.list()).toEqual([]);
    // A plain user cannot manage seats.
    await expect(api.caller(user).seat.register({ name: "Mine" })).rejects.toMatchObject({ code: "FORBIDDEN" });

    const revoked = await api.caller(admin).seat.revoke({ seatId: seat.seatId });
    expect(revoked.revokedAt).not.toBeNull();
    await expect(api.caller(null).seat.hello({ seatId: seat.seatId, secret })).rejects.toMatchObject({ code: "FORBIDDEN", message: 'Seat "Desk 7" was revoked: ask your administrator for a new seat link' });
    // The name stays taken by the revoked seat (its trail keeps its name).
    await expect(api.caller(admin).seat.register({ name: "Desk 7" })).rejects.toMatchObject({ code: "CONFLICT", message: 'A seat named "Desk 7" exists already (revoked)' });
    // The same name in another tenant is fine.
    expect((await api.caller(other).seat.register({ name: "Desk 7" })).name).toBe("Desk 7");
  });

  it("trades the enrollment secret for an httpOnly, SameSite=Strict cookie that names the seat from then on", async () => {
    const seat = await api.caller(admin).seat.register({ name: "Desk cookie" });
    const secret = seat.enrollPath.split("enroll=")[1]!;
    const res = new Headers();
    await expect(enrollSeat(api.db, { seatId: seat.seatId, secret: "x".repeat(43) }, new Headers(), res)).rejects.toMatchObject({ code: "UNAUTHENTICATED" });
    expect(res.get("set-cookie")).toBeNull();
    await enrollSeat(api.db, { seatId: seat.seatId, secret }, new Headers({ origin: "https://portal.example" }), res);
    const cookie = res.get("set-cookie")!;
    expect(cookie).toMatch(new RegExp(`^vdi_seat_${seat.seatId}=${secret}; Path=/; Max-Age=\\d+; HttpOnly; SameSite=Strict; Secure$`));
    // The kiosk's calls then name only the seat.
    const kiosk = api.caller(null, new Headers({ cookie: `other=1; ${cookie.split(";")[0]}` }));
    expect(await kiosk.seat.hello({ seatId: seat.seatId })).toMatchObject({ seatId: seat.seatId, name: "Desk cookie" });
    // Without the cookie (or with another seat's): told to open the seat link.
    await expect(api.caller(null).seat.hello({ seatId: seat.seatId })).rejects.toMatchObject({ code: "UNAUTHORIZED", message: "This browser is not a seat yet: open the seat link your administrator gave you" });
    const other = await api.caller(admin).seat.register({ name: "Desk cookie 2" });
    await expect(kiosk.seat.hello({ seatId: other.seatId })).rejects.toMatchObject({ code: "UNAUTHORIZED" });
    // Revoking the seat refuses its cookie at once.
    await api.caller(admin).seat.revoke({ seatId: seat.seatId });
    await expect(kiosk.seat.hello({ seatId: seat.seatId })).rejects.toMatchObject({ code: "FORBIDDEN" });
  });

  it("validates names, and the trail records register and revoke with the seat as target", async () => {
    await expect(api.caller(admin).seat.register({ name: "  " })).rejects.toMatchObject({ code: "BAD_REQUEST" });
    await expect(api.caller(admin).seat.register({ name: "<script>" })).rejects.toMatchObject({ code: "BAD_REQUEST" });
    await expect(api.caller(admin).seat.register({ name: "x".repeat(65) })).rejects.toMatchObject({ code: "BAD_REQUEST" });
    const seat = await api.caller(admin).seat.register({ name: "Desk 9", location: "Lab" });
    await api.caller(admin).seat.revoke({ seatId: seat.seatId });
    const events = await api.db.auditEvent.findMany({ where: { targetType: "seat", targetId: seat.seatId }, orderBy: { at: "asc" } });
    expect(events.map((e) => [e.action, e.outcome, e.actorId])).toEqual([["seat.register", "ok", admin.userId], ["seat.revoke", "ok", admin.userId]]);
    expect(events[0]!.detail).toContain('name="Desk 9"');
    expect(JSON.stringify(events)).not.toContain(seat.enrollPath.split("enroll=")[1]!);
  });
});
