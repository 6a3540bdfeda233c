// [Seat pools] The office day of a pool user, in Chromium, on real QEMU desktops (busybox, VNC):
// - persistent pool: the first login makes the user's desktop and shows its start at the seat;
// - helpdesk: the tenant admin sees the session on the Sessions page and shadows it; the user sees
//   a banner; view only until the user allows control, then the admin's typing reaches the same
//   shell as the user's; the user ends it;
// - suspend on disconnect: with the pool's 1-minute disconnect timer, a logged-out user's desktop
//   is saved to disk (its QEMU process gone, RAM freed); the next login restores it with the
//   half-typed command intact;
// - the admin logs the session off from the Sessions page: the seat returns to its login, saying so;
// - non-persistent pool: a warm desktop at login; after logout and a new login, a clean one (a file
//   made in the first is not in the second);
// - a restore that fails says so at the seat, back at the login, and the saved state stays;
// - an exhausted pool and a seat of another organization are refused in words, back at the login.
import { execFileSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import { existsSync, renameSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { test, expect, type Browser, type Page } from "@playwright/test";
import { DEMO, OTHER, REPO, SEAT_USER, canvasInk, logInThroughApi, serialLog, trpcMutation, trpcQuery, typeLikeAUser } from "../helpers/portal.ts";

test.setTimeout(10 * 60_000);

const t0 = Date.now();
let last = t0;
/** How long each part took (the suite's time is watched). */
function phase(what: string) {
  const now = Date.now();
  console.log(`seat pools: ${what} in ${Math.round((now - last) / 1000)} s (${Math.round((now - t0) / 1000)} s so far)`);
  last = now;
}

type Who = { email: string; password: string };

async function seatPage(browser: Browser, link: string): Promise<Page> {
  const page = await (await browser.newContext()).newPage();
  await page.goto(link);
  return page;
}

async function logInAt(page: Page, who: Who) {
  await page.getByLabel("Email").fill(who.email);
  await page.getByLabel("Password").fill(who.password);
  await page.getByRole("button", { name: "Log in" }).click();
}

/** Whether a QEMU process of this VM runs on this machine (its folder is in its command line). */
function qemuRuns(vmId: string): boolean {
  try {
    return execFileSync("pgrep", ["-f", `qemu-system.*${vmId}`], { encoding: "utf8" }).trim().length > 0;
  } catch {
    return false;
  }
}

test("[Seat pools] persistent desktop with helpdesk shadowing, suspend on disconnect and restore, admin log off; a non-persistent pool hands out clean desktops; refusals in words", async ({ browser }) => {
  const admin = await browser.newContext();
  await logInThroughApi(admin.request, DEMO);
  const templates = await trpcQuery(admin.request, "template.list", undefined);
  const templateId = (templates.body.result!.data as { id: string; title: string }[]).find((t) => t.title === "Debian shell (busybox)")!.id;
  const tag = Date.now().toString(36);
  const pool = async (name: string, policy: "persistent" | "nonpersistent", warmSize: number, maxSize: number) => {
    const r = await trpcMutation(admin.request, "pool.create", { name, templateId, policy, warmSize, maxSize, perUserLimit: 1, disconnectMinutes: 1, idleLogoffMinutes: 60 });
    expect(r.status, JSON.stringify(r.body)).toBe(200);
    return (r.body.result!.data as { poolId: string }).poolId;
  };
  const seatLink = async (name: string, poolId: string) => {
    const r = await trpcMutation(admin.request, "seat.register", { name, location: "e2e", poolId });
    expect(r.status, JSON.stringify(r.body)).toBe(200);
    return `http://127.0.0.1:3100${(r.body.result!.data as { enrollPath: string }).enrollPath}`;
  };
  const persistent = await pool(`Desks ${tag}`, "persistent", 0, 3);
  // The non-persistent pool's warm desktop boots meanwhile.
  const fresh = await pool(`Fresh ${tag}`, "nonpersistent", 1, 3);

  // First login on the persistent pool: the user's desktop is made and started, with progress at the seat.
  const seatA = await seatPage(browser, await seatLink(`A ${tag}`, persistent));
  await logInAt(seatA, SEAT_USER);
  await expect(seatA.getByTestId("seat-progress")).toBeVisible({ timeout: 30_000 });
  await expect(seatA.getByTestId("console-status")).toHaveText("connected", { timeout: 120_000 });
  const vmId = (await seatA.locator("main.seat-desktop").getAttribute("data-vm"))!;
  expect(vmId).toBeTruthy();
  await expect.poll(() => serialLog(vmId), { timeout: 120_000 }).toContain("VDI-GUEST-READY");
  await expect.poll(() => canvasInk(seatA), { timeout: 30_000 }).toBeGreaterThan(0.001);

  phase("first login onto a new persistent desktop, booted");
  // Helpdesk: the admin sees who sits where and what state the session is in, and shadows it.
  const portal = await admin.newPage();
  await portal.goto("/tenant/sessions");
  const row = portal.locator(`tr[data-user="${SEAT_USER.name}"][data-state="connected"]`);
  await expect(row).toContainText(`A ${tag}`, { timeout: 15_000 });
  await expect(row.getByTestId("session-state")).toContainText("connected for");
  await row.getByRole("button", { name: "Shadow" }).click();
  const shadow = portal.locator("section.shadow-view");
  await expect(shadow.getByTestId("console-status")).toHaveText("connected", { timeout: 30_000 });
  await expect(shadow.getByTestId("shadow-status")).toHaveText("View only: the user sees a banner.");
  await expect.poll(() => canvasInk(portal), { timeout: 30_000, message: "the user's screen in the shadow" }).toBeGreaterThan(0.001);
  await expect(seatA.getByTestId("shadow-banner")).toContainText("(helpdesk) is watching your desktop.", { timeout: 10_000 });

  // The user types half a command; the admin asks for control, the user allows it, the admin types on.
  const marker = `help${tag}`;
  await seatA.getByTestId("console-screen").locator("canvas").click();
  await typeLikeAUser(seatA, `echo ${marker}-user-`);
  await shadow.getByRole("button", { name: "Ask for control" }).click();
  await expect(seatA.getByTestId("shadow-banner")).toContainText("They ask to take control.", { timeout: 10_000 });
  await seatA.getByRole("button", { name: "Allow control" }).click();
  await expect(shadow.getByTestId("shadow-status")).toHaveText("You have control: the user sees a banner and can take it back.", { timeout: 10_000 });
  await expect(shadow.getByTestId("console-status")).toHaveText("connected", { timeout: 30_000 });
  await expect(seatA.getByTestId("shadow-banner")).toContainText("(helpdesk) is controlling your desktop.", { timeout: 10_000 });
  await shadow.getByTestId("console-screen").locator("canvas").click();
  await typeLikeAUser(portal, "helpdesk");
  await seatA.getByTestId("console-screen").locator("canvas").click();
  await typeLikeAUser(seatA, " > /dev/ttyS0\n");
  await expect.poll(() => serialLog(vmId), { timeout: 30_000, message: "the command typed by the user and the helpdesk ran" }).toContain(`${marker}-user-helpdesk`);
  await seatA.getByRole("button", { name: "End helpdesk session" }).click();
  await expect(shadow.getByTestId("shadow-status")).toContainText("The helpdesk session ended: the user ended the helpdesk session", { timeout: 10_000 });
  await expect(seatA.getByTestId("shadow-banner")).toHaveCount(0, { timeout: 10_000 });

  phase("helpdesk shadow, control, end");
  // Suspend on disconnect: half a command typed, logout; a minute later the desktop is saved to disk.
  const kept = `kept${tag}`;
  await seatA.getByTestId("console-screen").locator("canvas").click();
  await typeLikeAUser(seatA, `echo ${kept}-before-suspend-`);
  await seatA.getByRole("button", { name: "Log out" }).click();
  await expect(seatA.getByTestId("seat-ended")).toHaveText("Your session ended: You logged out.");
  const loggedOutAt = Date.now();
  const vmState = async () => {
    const r = await trpcQuery(admin.request, "vm.get", { vmId });
    return (r.body.result?.data as { state?: string } | undefined)?.state;
  };
  await expect.poll(vmState, { timeout: 150_000, intervals: [2_000], message: "saved by the disconnect timer" }).toBe("saved");
  console.log(`suspend on disconnect: saved ${Math.round((Date.now() - loggedOutAt) / 1000)} s after the logout (timer: 1 minute)`);
  expect(qemuRuns(vmId), "the saved desktop's QEMU process is gone").toBe(false);
  await portal.goto("/tenant/pools");
  await expect(portal.getByText(/1 in use \(1 suspended, 0 stopped\)/).first()).toBeVisible();

  // A restore that fails (the saved state swapped for garbage here): the seat says so and returns
  // to its login, and the node keeps the saved state where it was, for the next try.
  const savedFile = join(REPO, "var/e2e/node/vms", vmId, "saved");
  expect(existsSync(savedFile), "the saved state on the node").toBe(true);
  renameSync(savedFile, `${savedFile}.aside`);
  writeFileSync(savedFile, randomBytes(256 * 1024), { mode: 0o644 });
  await logInAt(seatA, SEAT_USER);
  await expect(seatA.getByTestId("seat-refused")).toContainText("Your desktop could not be started: Cannot resume the saved state", { timeout: 60_000 });
  await expect(seatA.getByTestId("seat-refused")).toContainText("It is kept as it was: log in again to retry");
  await expect(seatA.getByRole("button", { name: "Log in" })).toBeVisible();
  expect(existsSync(savedFile), "a failed restore leaves the saved state in place").toBe(true);
  rmSync(savedFile);
  renameSync(`${savedFile}.aside`, savedFile);

  // The next login restores it, with progress, and the half-typed command is still there.
  const restoredAt = Date.now();
  await logInAt(seatA, SEAT_USER);
  await expect(seatA.getByTestId("seat-progress").or(seatA.getByTestId("console-status"))).toBeVisible({ timeout: 30_000 });
  await expect(seatA.getByTestId("console-status")).toHaveText("connected", { timeout: 120_000 });
  console.log(`restore on connect: login → console connected in ${Date.now() - restoredAt} ms`);
  expect(await seatA.locator("main.seat-desktop").getAttribute("data-vm")).toBe(vmId);
  await seatA.getByTestId("console-screen").locator("canvas").click();
  await typeLikeAUser(seatA, "after-restore > /dev/ttyS0\n");
  await expect.poll(() => serialLog(vmId), { timeout: 30_000, message: "the command typed before the suspend ran after the restore" }).toContain(`${kept}-before-suspend-after-restore`);

  phase("suspend on disconnect, a failed restore, and the restore");
  // The admin logs the session off: the seat returns to its login, saying so.
  await portal.goto("/tenant/sessions");
  portal.once("dialog", (d) => void d.accept());
  await portal.locator(`tr[data-user="${SEAT_USER.name}"][data-state="connected"]`).getByRole("button", { name: "Log off" }).click();
  await expect(seatA.getByTestId("seat-ended")).toHaveText("Your session ended: logged off by an administrator", { timeout: 30_000 });
  await expect(seatA.getByRole("button", { name: "Log in" })).toBeVisible();

  // Non-persistent: a warm desktop; a file made there is gone after logout and a new login.
  const seatB = await seatPage(browser, await seatLink(`B ${tag}`, fresh));
  await logInAt(seatB, SEAT_USER);
  await expect(seatB.getByTestId("console-status")).toHaveText("connected", { timeout: 180_000 });
  const first = (await seatB.locator("main.seat-desktop").getAttribute("data-vm"))!;
  await expect.poll(() => serialLog(first), { timeout: 120_000 }).toContain("VDI-GUEST-READY");
  const dirty = `/tmp/dirty-${tag}`;
  await seatB.getByTestId("console-screen").locator("canvas").click();
  await typeLikeAUser(seatB, `touch ${dirty}; ls ${dirty} > /dev/ttyS0\n`);
  await expect.poll(() => serialLog(first), { timeout: 30_000 }).toContain(dirty);

  // The pool is at its per-user limit for this user, and another organization's user is refused here.
  const seatC = await seatPage(browser, await seatLink(`C ${tag}`, fresh));
  await logInAt(seatC, OTHER);
  await expect(seatC.locator("p[role=alert]").first()).toContainText("This seat belongs to another organization", { timeout: 15_000 });
  await expect(seatC.getByRole("button", { name: "Log in" })).toBeVisible();

  await seatB.getByRole("button", { name: "Log out" }).click();
  await expect(seatB.getByTestId("seat-ended")).toHaveText("Your session ended: You logged out.");
  await logInAt(seatB, SEAT_USER);
  await expect(seatB.getByTestId("console-status")).toHaveText("connected", { timeout: 180_000 });
  const second = (await seatB.locator("main.seat-desktop").getAttribute("data-vm"))!;
  expect(second, "a different, clean desktop").not.toBe(first);
  await expect.poll(() => serialLog(second), { timeout: 120_000 }).toContain("VDI-GUEST-READY");
  await seatB.getByTestId("console-screen").locator("canvas").click();
  const checked = `checked${tag}`;
  await typeLikeAUser(seatB, `ls ${dirty} > /dev/ttyS0 2>&1; echo ${checked} > /dev/ttyS0\n`);
  await expect.poll(() => serialLog(second), { timeout: 30_000 }).toContain(checked);
  expect(serialLog(second)).toContain(`${dirty}: No such file or directory`);
  await expect.poll(() => qemuRuns(first), { timeout: 60_000, message: "the used desktop is thrown away" }).toBe(false);

  phase("non-persistent re-login onto a clean desktop, another organization refused");
  // An exhausted pool: its one desktop is in use, so the next user is told so and returns to the login.
  const tiny = await pool(`Tiny ${tag}`, "nonpersistent", 0, 1);
  const seatD = await seatPage(browser, await seatLink(`D ${tag}`, tiny));
  const seatE = await seatPage(browser, await seatLink(`E ${tag}`, tiny));
  // (Another user than the one at seat B: logging in at D would roam the user there from B.)
  await logInAt(seatD, DEMO);
  await expect(seatD.locator("main.seat-desktop")).toBeVisible({ timeout: 15_000 });
  await logInAt(seatE, SEAT_USER);
  await expect(seatE.locator("p[role=alert]").first()).toContainText(`All 1 desktops of pool "Tiny ${tag}" are in use`, { timeout: 15_000 });
  await expect(seatE.getByRole("button", { name: "Log in" })).toBeVisible();

  // Clean up, so that no desktop of this test runs on under the next ones: log out (the
  // non-persistent desktops are thrown away with their pools), delete the persistent desktop.
  for (const seat of [seatB, seatD]) {
    await seat.getByRole("button", { name: "Log out" }).click();
    await expect(seat.getByTestId("seat-ended")).toHaveText("Your session ended: You logged out.");
  }
  for (const p of [fresh, tiny]) {
    const r = await trpcMutation(admin.request, "pool.delete", { poolId: p });
    expect(r.status, JSON.stringify(r.body)).toBe(200);
  }
  expect((await trpcMutation(admin.request, "vm.delete", { vmId })).status).toBe(200);
  phase("refusals and clean-up");
});
