// [Seat] A tenant admin registers a seat; the seat's link, opened in another browser (the thin
// client), shows the seat's full-screen login; the user logs in there and gets their running
// desktop's console with no portal chrome; Log out returns the seat to its login; two-factor
// logins ask for the code; a revoked seat and a wrong link say so clearly.
import { test, expect } from "@playwright/test";
import { DEMO, TOTP_USER, canvasInk, logInThroughApi, serialLog, totpCode, trpcMutation, trpcQuery, typeLikeAUser } from "../helpers/portal.ts";

test("[Seat] register a seat, log in at it, see the desktop, log out; a revoked seat and a wrong link are refused in words", async ({ browser }) => {
  const admin = await browser.newContext();
  await logInThroughApi(admin.request, DEMO);
  const templates = await trpcQuery(admin.request, "template.list", undefined);
  const templateId = (templates.body.result!.data as { id: string; title: string }[]).find((t) => t.title === "Debian shell (busybox)")!.id;
  const name = `seatvm-${Date.now().toString(36)}`;
  const created = await trpcMutation(admin.request, "vm.create", { templateId, name });
  const { vmId } = created.body.result!.data as { vmId: string };

  // The admin registers the seat in the portal and gets its link once.
  const portal = await admin.newPage();
  await portal.goto("/tenant/seats");
  const seatName = `Desk ${Date.now().toString(36)}`;
  await portal.getByLabel("Name").fill(seatName);
  await portal.getByLabel("Location").fill("Floor 4, east");
  await portal.getByRole("button", { name: "Register" }).click();
  const link = (await portal.getByTestId("seat-link").textContent())!;
  expect(link).toMatch(/\/seat\/[a-z0-9]+\?enroll=[A-Za-z0-9_-]{43}$/);
  await expect(portal.locator(`tr[data-seat="${seatName}"]`)).toContainText("active");

  // The thin client: a browser of its own, no session.
  const kiosk = await (await browser.newContext()).newPage();
  await kiosk.goto(link);
  await expect(kiosk.getByTestId("seat-where")).toHaveText(`${seatName} · Floor 4, east`);
  expect(new URL(kiosk.url()).search).toBe("");  // the secret left the address bar
  // ... for an httpOnly, SameSite=Strict cookie: no script of the page can read it, nothing is kept in storage.
  await expect.poll(async () => (await kiosk.context().cookies()).find((c) => c.name.startsWith("vdi_seat_"))?.httpOnly).toBe(true);
  expect((await kiosk.context().cookies()).find((c) => c.name.startsWith("vdi_seat_"))?.sameSite).toBe("Strict");
  expect(await kiosk.evaluate(() => document.cookie)).not.toContain("vdi_seat_");
  expect(await kiosk.evaluate(() => Object.keys(window.localStorage))).toEqual([]);
  await expect(kiosk.locator(".topbar")).toHaveCount(0);  // no portal chrome
  await kiosk.getByLabel("Email").fill(DEMO.email);
  await kiosk.getByLabel("Password").fill("wrong-password-123");
  await kiosk.getByRole("button", { name: "Log in" }).click();
  await expect(kiosk.locator("p[role=alert]")).toHaveText("Wrong email or password");
  await kiosk.getByLabel("Password").fill(DEMO.password);
  await kiosk.getByRole("button", { name: "Log in" }).click();
  await expect(kiosk.getByTestId("console-status")).toHaveText("connected", { timeout: 90_000 });
  await expect.poll(() => canvasInk(kiosk), { timeout: 60_000, message: "the desktop on the seat" }).toBeGreaterThan(0.001);
  await expect(kiosk.locator(".topbar")).toHaveCount(0);

  // Roaming: half a command typed at this seat, the rest at seat B, runs as one command in the
  // same shell of the same VM; this seat's console closes and it returns to its login, saying where
  // the user went.
  const shownVm = await kiosk.locator("main.seat-desktop").getAttribute("data-vm");
  expect(shownVm).toBeTruthy();
  await expect.poll(() => serialLog(shownVm!), { timeout: 90_000 }).toContain("VDI-GUEST-READY");
  const marker = `roam${Date.now().toString(36)}`;
  await kiosk.getByTestId("console-screen").locator("canvas").click();
  await typeLikeAUser(kiosk, `echo ${marker}-typed-at-A-`);
  await portal.getByLabel("Name").fill(`${seatName} B`);
  await portal.getByLabel("Location").fill("Floor 5");
  await portal.getByRole("button", { name: "Register" }).click();
  const linkB = (await portal.getByTestId("seat-link").textContent())!;
  expect(linkB).not.toBe(link);
  const kioskB = await (await browser.newContext()).newPage();
  await kioskB.goto(linkB);
  await kioskB.getByLabel("Email").fill(DEMO.email);
  await kioskB.getByLabel("Password").fill(DEMO.password);
  const roamedAt = Date.now();
  await kioskB.getByRole("button", { name: "Log in" }).click();
  await expect(kioskB.getByTestId("console-status")).toHaveText("connected", { timeout: 60_000 });
  console.log(`roaming: login at seat B → its console connected in ${Date.now() - roamedAt} ms`);
  expect(await kioskB.locator("main.seat-desktop").getAttribute("data-vm")).toBe(shownVm);
  await expect(kiosk.getByTestId("seat-ended")).toHaveText(`Your session ended: continued at seat ${seatName} B`, { timeout: 30_000 });
  await expect(kiosk.getByRole("button", { name: "Log in" })).toBeVisible();
  await kioskB.getByTestId("console-screen").locator("canvas").click();
  await typeLikeAUser(kioskB, "then-at-B > /dev/ttyS0\n");
  await expect.poll(() => serialLog(shownVm!), { timeout: 30_000, message: "the command begun at A and ended at B ran" }).toContain(`${marker}-typed-at-A-then-at-B`);
  await kioskB.getByRole("button", { name: "Log out" }).click();
  await expect(kioskB.getByTestId("seat-ended")).toHaveText("Your session ended: You logged out.");

  // Log in at the first seat again, then log out: back to the seat's login (the seat stays enrolled after a reload).
  await kiosk.getByLabel("Email").fill(DEMO.email);
  await kiosk.getByLabel("Password").fill(DEMO.password);
  await kiosk.getByRole("button", { name: "Log in" }).click();
  await expect(kiosk.getByTestId("console-status")).toHaveText("connected", { timeout: 60_000 });
  await kiosk.getByRole("button", { name: "Log out" }).click();
  await expect(kiosk.getByRole("button", { name: "Log in" })).toBeVisible();
  await kiosk.reload();
  await expect(kiosk.getByTestId("seat-where")).toHaveText(`${seatName} · Floor 4, east`);

  // Two-factor authentication at a seat: the password, then the code from the authenticator app
  // (a wrong one is refused); the seat is never a trusted device. This user has no desktop yet:
  // the seat says so in words and returns to its login.
  const totpUser = await browser.newContext();
  await logInThroughApi(totpUser.request, TOTP_USER);
  const setup = await trpcMutation(totpUser.request, "auth.enableTwoFactor", { password: TOTP_USER.password });
  const { secret } = setup.body.result!.data as { secret: string };
  expect((await trpcMutation(totpUser.request, "auth.confirmTwoFactor", { code: totpCode(secret) })).status).toBe(200);
  await kiosk.getByLabel("Email").fill(TOTP_USER.email);
  await kiosk.getByLabel("Password").fill(TOTP_USER.password);
  await kiosk.getByRole("button", { name: "Log in" }).click();
  await kiosk.getByLabel("Authenticator code").fill(String((Number(totpCode(secret)) + 500_000) % 1_000_000).padStart(6, "0"));
  await kiosk.getByRole("button", { name: "Verify" }).click();
  await expect(kiosk.locator("p[role=alert]")).toBeVisible();
  await kiosk.getByLabel("Authenticator code").fill(totpCode(secret));
  await kiosk.getByRole("button", { name: "Verify" }).click();
  await expect(kiosk.getByTestId("seat-refused")).toHaveText("You have no desktop yet: create one in the portal, or ask your administrator for a seat with a desktop pool", { timeout: 15_000 });
  await expect(kiosk.getByRole("button", { name: "Log in" })).toBeVisible();

  // Revoked: the seat says so at once.
  portal.once("dialog", (d) => void d.accept());
  await portal.locator(`tr[data-seat="${seatName}"]`).getByRole("button", { name: "Revoke" }).click();
  await expect(portal.locator(`tr[data-seat="${seatName}"]`)).toContainText("revoked");
  await kiosk.reload();
  await expect(kiosk.locator("p[role=alert]")).toHaveText(`Seat "${seatName}" was revoked: ask your administrator for a new seat link`);

  // A wrong or deleted seat's link.
  const stranger = await (await browser.newContext()).newPage();
  await stranger.goto(`/seat/nosuchseat0123?enroll=${"x".repeat(43)}`);
  await expect(stranger.locator("p[role=alert]")).toContainText("This seat is not registered (or its link is wrong)");
  await stranger.goto("/seat/nosuchseat0123");
  await expect(stranger.locator("p[role=alert]")).toContainText("This browser is not a seat yet: open the seat link your administrator gave you");

  expect((await trpcMutation(admin.request, "vm.delete", { vmId })).status).toBe(200);
});
