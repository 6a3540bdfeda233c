// [VM] A tenant creates the Debian desktop and works in it from Chromium over RDP through the
// node's gateway: the Xfce session is on the canvas, a command typed into its terminal runs in
// the guest (checked through the guest agent), the German layout gives German keys, the
// clipboard goes both ways, and the desktop takes the browser window's size. The same VM's VNC
// console shows its own graphical screen, with the clipboard too.
import { existsSync } from "node:fs";
import { join } from "node:path";
import { test, expect, type Page } from "@playwright/test";
import { guestExec } from "../../apps/hypervisor-node/test/guest-agent.ts";
import { DEMO, logInThroughPage, REPO, canvasColours, canvasInk, serialLog, typeLikeAUser } from "../helpers/portal.ts";

const TEMPLATE = join(REPO, "var/images/debian-desktop/template.json");
const skipReason = existsSync(TEMPLATE) ? null : `the Debian desktop image is not built (${TEMPLATE}; scripts/setup.sh builds it)`;
const X11 = "DISPLAY=:10 XAUTHORITY=/home/user/.Xauthority";

/** The canvas's size and the box noVNC fits it in. */
async function canvasSize(page: Page) {
  return page.getByTestId("console-screen").evaluate((el) => {
    const c = el.querySelector("canvas")!;
    return { width: c.width, height: c.height, boxWidth: el.clientWidth, boxHeight: el.clientHeight };
  });
}

test("[VM] demo user works in a Debian desktop over RDP in Chromium: screen, keys, German layout, clipboard, resize, VNC", async ({ page }) => {
  if (skipReason !== null) console.warn(`[skip] [VM] Debian desktop e2e: ${skipReason}`);
  test.skip(skipReason !== null, skipReason ?? "");
  test.setTimeout(600_000);
  await page.setViewportSize({ width: 1280, height: 900 });
  const name = `desk-${Date.now().toString(36)}`;
  await logInThroughPage(page, DEMO);

  const t0 = Date.now();
  await page.getByLabel("Template").selectOption({ label: "Debian desktop (Xfce)" });
  await page.getByLabel("Name").fill(name);
  await page.getByRole("button", { name: "Create" }).click();
  await page.waitForURL(/\/vms\/[a-z0-9]+/);
  const vmId = new URL(page.url()).pathname.split("/").pop()!;
  const sh = async (cmd: string) => guestExec(join(REPO, "var/e2e/node/vms", vmId, "qga.sock"), "/bin/sh", ["-c", cmd]);
  await expect(page.getByTestId("vm-state")).toHaveText("running", { timeout: 120_000 });

  // RDP is the desktop's default console; it connects once xrdp is up (the page keeps trying).
  await expect(page.getByTestId("console-protocol-rdp")).toHaveAttribute("aria-pressed", "true");
  await expect.poll(() => serialLog(vmId), { timeout: 420_000, message: "xrdp up in the guest" }).toContain("VDI-DESKTOP-RDP");
  await expect(page.getByTestId("console-status")).toHaveText("connected", { timeout: 180_000 });
  // Xfce's panel, icons and their labels (its wallpaper is one dark colour).
  // Both are polled: the session is drawn in pieces (and redrawn when it takes the box's size),
  // so a frame can have the panel's colours before the icons' ink.
  await expect.poll(() => canvasColours(page), { timeout: 120_000, message: "the Xfce session is drawn" }).toBeGreaterThan(100);
  await expect.poll(() => canvasInk(page), { timeout: 60_000, message: "Xfce's panel, icons and labels are on the canvas" }).toBeGreaterThan(0.03);
  console.log(`Debian desktop: create → Xfce over RDP on the canvas ${Date.now() - t0} ms`);

  // Resize to fit: the desktop takes the console box's size (the display-control channel).
  await expect.poll(async () => { const s = await canvasSize(page); return Math.abs(s.width - s.boxWidth) <= 2 && Math.abs(s.height - s.boxHeight) <= 2; },
    { timeout: 60_000, message: "the RDP desktop has the box's size" }).toBe(true);
  let size = await canvasSize(page);
  expect((await sh(`${X11} xrandr --current | head -1`)).stdout).toContain(`current ${size.width} x ${size.height}`);
  await page.setViewportSize({ width: 1100, height: 800 });
  await expect.poll(async () => { const s = await canvasSize(page); return s.width !== size.width && Math.abs(s.width - s.boxWidth) <= 2; },
    { timeout: 60_000, message: "the desktop follows a smaller window" }).toBe(true);
  size = await canvasSize(page);
  await expect.poll(async () => (await sh(`${X11} xrandr --current | head -1`)).stdout, { timeout: 30_000 }).toContain(`current ${size.width} x ${size.height}`);

  // A command typed into Xfce's terminal runs in the guest.
  const screen = page.getByTestId("console-screen").locator("canvas");
  await screen.click({ position: { x: 500, y: 400 } });
  await page.keyboard.press("Control+Alt+KeyT");
  await expect.poll(async () => (await sh("pgrep -u user -x xfce4-terminal")).exitcode, { timeout: 60_000, message: "a terminal opened" }).toBe(0);
  await page.waitForTimeout(3_000);  // its window takes the focus
  await typeLikeAUser(page, "echo typed-in-chromium > /tmp/e2e-typed\n");
  await expect.poll(async () => (await sh("cat /tmp/e2e-typed")).stdout, { timeout: 30_000, message: "the typed command ran" }).toBe("typed-in-chromium\n");

  // German layout: Chromium sends the physical keys; the guest's layout makes Z a Y.
  expect((await sh(`${X11} setxkbmap de`)).exitcode).toBe(0);
  await typeLikeAUser(page, "touch zy\n");
  await expect.poll(async () => (await sh("test -e /home/user/yz && ! test -e /home/user/zy")).exitcode, { timeout: 30_000, message: "German keys" }).toBe(0);
  expect((await sh(`${X11} setxkbmap us`)).exitcode).toBe(0);

  // Clipboard, browser → guest (UTF-8, beyond Latin-1) and guest → browser.
  await page.getByRole("button", { name: "Clipboard" }).click();
  const box = page.getByTestId("console-clipboard");
  await box.fill("Grüße aus Chromium – 10 €");
  await expect.poll(async () => (await sh(`${X11} xsel -b -o`)).stdout, { timeout: 30_000, message: "the guest's clipboard" }).toBe("Grüße aus Chromium – 10 €");
  expect((await sh(`printf 'vom Gast ✓ Ärger' | ${X11} xsel -b -i >/dev/null 2>&1`)).exitcode).toBe(0);
  await expect(box).toHaveValue("vom Gast ✓ Ärger", { timeout: 30_000 });

  // The same VM's VNC console: its own screen, the graphical session of the console's autologin.
  await page.getByTestId("console-protocol-vnc").click();
  await expect(page.getByTestId("console-status")).toHaveText("connected", { timeout: 30_000 });
  await expect.poll(() => canvasColours(page), { timeout: 60_000, message: "the VNC console shows the graphical desktop" }).toBeGreaterThan(100);
  // Clipboard over VNC: QEMU's vdagent and spice-vdagent in the console's session (:0).
  await box.fill("über VNC ✓");
  await expect.poll(async () => (await sh("DISPLAY=:0 XAUTHORITY=/home/user/.Xauthority xsel -b -o")).stdout, { timeout: 30_000, message: "the VNC session's clipboard" }).toBe("über VNC ✓");

  page.once("dialog", (d) => void d.accept());
  await page.getByRole("button", { name: "Delete" }).click();
  await page.waitForURL(/\/vms$/);
  await expect(page.locator(`tr[data-vm="${name}"]`)).toHaveCount(0, { timeout: 60_000 });
});
