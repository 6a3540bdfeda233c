// [VM] A tenant creates a microVM desktop (our own VMM), types into it, and sees the text arrive.
import { test, expect } from "@playwright/test";
import { DEMO, logInThroughPage, canvasInk, microvmSkipReason, serialLog, typeLikeAUser } from "../helpers/portal.ts";

const skipReason = microvmSkipReason();
test("[VM] demo user creates a microVM desktop and types into its window", async ({ page }) => {
  if (skipReason !== null) console.warn(`[skip] [VM] microVM desktop e2e: ${skipReason}`);
  test.skip(skipReason !== null, skipReason ?? "");
  const name = `desk-${Date.now().toString(36)}`;
  await logInThroughPage(page, DEMO);

  const t0 = Date.now();
  await page.getByLabel("Template").selectOption({ label: "microVM desktop" });
  await page.getByLabel("Name").fill(name);
  await page.getByRole("button", { name: "Create" }).click();
  await page.waitForURL(/\/vms\/[a-z0-9]+/);
  const vmId = new URL(page.url()).pathname.split("/").pop()!;
  await expect(page.getByTestId("vm-state")).toHaveText("running", { timeout: 30_000 });
  await expect(page.getByTestId("console-status")).toHaveText("connected", { timeout: 30_000 });
  // The wallpaper, window and clock fill most of the screen.
  await expect.poll(() => canvasInk(page), { timeout: 30_000, message: "desktop drawn" }).toBeGreaterThan(0.3);
  console.log(`microVM create → desktop on the canvas: ${Date.now() - t0} ms`);

  await page.getByTestId("console-screen").locator("canvas").click({ position: { x: 400, y: 300 } });
  await typeLikeAUser(page, "Hello from Chromium\n");
  await expect.poll(() => serialLog(vmId), { timeout: 20_000, message: "the desktop received the line" }).toContain("typed: Hello from Chromium");

  page.once("dialog", (d) => void d.accept());
  await page.getByRole("button", { name: "Delete" }).click();
  await page.waitForURL(/\/vms$/);
  await expect(page.locator(`tr[data-vm="${name}"]`)).toHaveCount(0, { timeout: 30_000 });
});

// The other path: on a node without KVM (or with VDI_KVM_DEVICE hiding it) the user learns why at once.
test("[VM] without KVM, the microVM desktop is refused at once with the reason", async ({ page }) => {
  if (skipReason === null) console.warn("[skip] [VM] no-KVM refusal e2e: this machine has KVM, the refusal path is not reachable (VDI_KVM_DEVICE=/nonexistent runs it)");
  test.skip(skipReason === null, "this machine has KVM: the refusal path is not reachable");
  await logInThroughPage(page, DEMO);
  await page.getByLabel("Template").selectOption({ label: "microVM desktop" });
  await page.getByLabel("Name").fill(`nokvm-${Date.now().toString(36)}`);
  const t0 = Date.now();
  await page.getByRole("button", { name: "Create" }).click();
  // (Next.js has a route announcer with role alert too: the form's is the one that names the reason.)
  await expect(page.getByRole("alert").filter({ hasText: "hardware virtualization" })).toContainText("microVMs need hardware virtualization (KVM) on a node", { timeout: 10_000 });
  expect(Date.now() - t0).toBeLessThan(10_000);
  await expect(page).toHaveURL(/\/vms$/);
});
