// [VM] Lifecycle in the browser: create → snapshot (with memory) → change → revert → linked clone,
// with the operation progress bars seen moving, the guest checked after each step, and the
// clone's screen thumbnail in the VM list refreshing.
import { test, expect } from "@playwright/test";
import { DEMO, logInThroughPage, progressSeen, recordProgress, serialLog, typeLikeAUser } from "../helpers/portal.ts";

test("[VM] snapshot, change, revert and clone from the VM page, with live progress", async ({ page }) => {
  const name = `life-${Date.now().toString(36)}`;
  await logInThroughPage(page, DEMO);
  await page.getByLabel("Template").selectOption({ label: "Debian shell (busybox)" });
  await page.getByLabel("Name").fill(name);
  await page.getByRole("button", { name: "Create" }).click();
  await page.waitForURL(/\/vms\/[a-z0-9]+/);
  const vmId = new URL(page.url()).pathname.split("/").pop()!;
  await recordProgress(page);
  await expect(page.getByTestId("vm-state")).toHaveText("running", { timeout: 60_000 });
  await expect.poll(() => serialLog(vmId), { timeout: 90_000 }).toContain(`VDI-GUEST-READY ${name}`);
  await expect(page.locator('[data-testid="operation-row"][data-kind="create"][data-status="succeeded"]')).toBeVisible();

  const screen = page.getByTestId("console-screen").locator("canvas");
  const type = async (line: string, expectText: string) => {
    await expect(page.getByTestId("console-status")).toHaveText("connected", { timeout: 30_000 });
    await screen.click();
    await typeLikeAUser(page, `${line} > /dev/ttyS0\n`);
    await expect.poll(() => serialLog(vmId), { timeout: 30_000, message: `guest prints ${expectText}` }).toContain(expectText);
  };
  await type("echo one > /mnt/disk/m; sync; echo M1-$(cat /mnt/disk/m)", "M1-one");

  // Snapshot with memory.
  const snapshots = page.getByRole("region", { name: "Snapshots" });
  await snapshots.getByLabel("Name").fill("first");
  await snapshots.getByLabel("Description").fill("before the change");
  await expect(snapshots.getByLabel("Include memory")).toBeChecked();
  await snapshots.getByRole("button", { name: "Take snapshot" }).click();
  const row = snapshots.getByTestId("snapshot-row").filter({ hasText: "first" });
  await expect(row).toContainText("memory + disk", { timeout: 60_000 });
  await expect(row).toContainText("MiB", { timeout: 60_000 });
  await expect(row).toContainText("you are here");
  await expect(page.locator('[data-testid="operation-row"][data-kind="snapshot"][data-status="succeeded"]')).toBeVisible();
  const snapProgress = await progressSeen(page, "snapshot");
  console.log(`snapshot progress values seen: ${snapProgress.join(", ")}`);
  expect(snapProgress.some((p) => p > 0 && p < 100), "an intermediate progress value was shown").toBe(true);
  expect(snapProgress).toContain(100);

  // Change, then revert: the disk and the shell's memory come back.
  await type("echo two > /mnt/disk/m; sync; V=changed; echo M2-$(cat /mnt/disk/m)", "M2-two");
  page.once("dialog", (d) => void d.accept());
  await row.getByRole("button", { name: "Revert" }).click();
  await expect(page.locator('[data-testid="operation-row"][data-kind="restore"][data-status="succeeded"]')).toBeVisible({ timeout: 60_000 });
  await expect(page.getByTestId("vm-state")).toHaveText("running", { timeout: 60_000 });
  await type("echo R-$(cat /mnt/disk/m)-$V-end", "R-one--end");
  // The revert reports its steps and how far the memory state has loaded.
  const revertProgress = await progressSeen(page, "restore");
  console.log(`revert progress values seen: ${revertProgress.join(", ")}`);
  expect(revertProgress.some((p) => p > 0 && p < 100), "an intermediate revert progress value was shown").toBe(true);

  // Linked clone of the snapshot: a new VM page, running, marked as a linked clone; its guest boots.
  const answers = [`${name}-c`, true];
  const onDialog = (d: import("@playwright/test").Dialog) => { const a = answers.shift(); void (typeof a === "string" ? d.accept(a) : d.accept()); };
  page.on("dialog", onDialog);
  await row.getByRole("button", { name: "Clone" }).click();
  await page.waitForURL((u) => !u.pathname.endsWith(vmId) && /\/vms\/[a-z0-9]+/.test(u.pathname));
  page.off("dialog", onDialog);
  const cloneId = new URL(page.url()).pathname.split("/").pop()!;
  await expect(page.getByRole("heading", { name: `${name}-c` })).toBeVisible();
  await expect(page.getByTestId("vm-state")).toHaveText("running", { timeout: 60_000 });
  await expect(page.getByText("linked clone")).toBeVisible();
  await expect.poll(() => serialLog(cloneId), { timeout: 90_000 }).toContain(`VDI-GUEST-READY ${name}-c`);

  // The VM list shows each running VM's screen, and refreshes it while the page is open.
  await page.goto("/vms");
  const thumb = page.getByRole("img", { name: `Screen of ${name}-c`, exact: true });
  await expect(thumb).toBeVisible({ timeout: 30_000 });
  expect(await thumb.evaluate((i: HTMLImageElement) => i.naturalWidth)).toBeGreaterThan(0);
  const firstSrc = await thumb.getAttribute("src");
  await expect.poll(() => thumb.getAttribute("src"), { timeout: 20_000, message: "the thumbnail refreshes" }).not.toBe(firstSrc);
  expect(await thumb.evaluate((i: HTMLImageElement) => i.complete && i.naturalWidth > 0)).toBe(true);

  // Clean up: the clone first (the source's snapshot is its disk's base), then the source.
  await page.goto(`/vms/${cloneId}`);
  page.once("dialog", (d) => void d.accept());
  await page.locator(".vm-head").getByRole("button", { name: "Delete" }).click();
  await page.waitForURL(/\/vms$/);
  await expect(page.locator(`tr[data-vm="${name}-c"]`)).toHaveCount(0, { timeout: 30_000 });
  await page.goto(`/vms/${vmId}`);
  page.once("dialog", (d) => void d.accept());
  await page.locator(".vm-head").getByRole("button", { name: "Delete" }).click();
  await page.waitForURL(/\/vms$/);
  await expect(page.locator(`tr[data-vm="${name}"]`)).toHaveCount(0, { timeout: 30_000 });
});
