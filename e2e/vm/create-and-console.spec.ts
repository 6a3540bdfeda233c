// [VM] A tenant creates a VM from the template, opens its console and types into the guest.
import { test, expect } from "@playwright/test";
import { DEMO, logInThroughPage, canvasInk, serialLog, typeLikeAUser } from "../helpers/portal.ts";

test("[VM] demo user creates a VM, sees its screen and types a command into it", async ({ page }) => {
  const name = `e2e-${Date.now().toString(36)}`;
  const marker = `E2E-MARK-${Math.random().toString(36).slice(2, 8).toUpperCase()}`;

  await logInThroughPage(page, DEMO);

  // Bad input is explained next to the field and creates nothing.
  await page.getByLabel("Name").fill("Bad Name!");
  await page.getByRole("button", { name: "Create" }).click();
  await expect(page.getByRole("alert").filter({ hasText: "lowercase letters" })).toBeVisible();

  const t0 = Date.now();
  await page.getByLabel("Template").selectOption({ label: "Debian shell (busybox)" });
  await page.getByLabel("Name").fill(name);
  await page.getByRole("button", { name: "Create" }).click();
  await page.waitForURL(/\/vms\/[a-z0-9]+/);
  const vmId = new URL(page.url()).pathname.split("/").pop()!;
  await expect(page.getByRole("heading", { name })).toBeVisible();
  await expect(page.getByTestId("vm-state")).toHaveText("running", { timeout: 60_000 });
  await expect(page.getByTestId("console-status")).toHaveText("connected", { timeout: 30_000 });
  await expect.poll(() => canvasInk(page), { timeout: 60_000, message: "console shows a non-blank screen" }).toBeGreaterThan(0.001);
  console.log(`create → first non-blank frame: ${Date.now() - t0} ms`);

  // Wait for the shell, then type into the guest through noVNC.
  await expect.poll(() => serialLog(vmId), { timeout: 90_000 }).toContain("VDI-GUEST-READY");
  const screen = page.getByTestId("console-screen").locator("canvas");
  await screen.click();
  await typeLikeAUser(page, `echo ${marker} > /dev/ttyS0\n`);
  await expect.poll(() => serialLog(vmId), { timeout: 30_000, message: "the guest echoed the marker to its serial port" }).toContain(marker);

  // Delete cleans up: the VM leaves the list.
  page.once("dialog", (d) => void d.accept());
  await page.getByRole("button", { name: "Delete" }).click();
  await page.waitForURL(/\/vms$/);
  await expect(page.locator(`tr[data-vm="${name}"]`)).toHaveCount(0, { timeout: 30_000 });
});
