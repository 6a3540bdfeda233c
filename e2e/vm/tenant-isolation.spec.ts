// [VM] A user of another tenant can neither see nor open someone else's VM.
import { test, expect } from "@playwright/test";
import { DEMO, OTHER, logInThroughApi, trpcMutation, trpcQuery } from "../helpers/portal.ts";

test("[VM] another tenant's user cannot see, control or open the console of a VM", async ({ browser }) => {
  const demo = await browser.newContext();
  await logInThroughApi(demo.request, DEMO);
  const templates = await trpcQuery(demo.request, "template.list", undefined);
  const templateId = (templates.body.result!.data as { id: string; title: string }[]).find((t) => t.title === "Debian shell (busybox)")!.id;
  const created = await trpcMutation(demo.request, "vm.create", { templateId, name: `iso-${Date.now().toString(36)}` });
  expect(created.status).toBe(200);
  const { vmId } = created.body.result!.data as { vmId: string };

  const other = await browser.newContext();
  await logInThroughApi(other.request, OTHER);
  const list = await trpcQuery(other.request, "vm.list", undefined);
  expect(list.body.result!.data).toEqual([]);
  for (const [kind, path] of [["q", "vm.get"], ["m", "vm.stop"], ["m", "vm.delete"], ["m", "console.open"]] as const) {
    const r = kind === "q" ? await trpcQuery(other.request, path, { vmId }) : await trpcMutation(other.request, path, { vmId });
    expect([path, r.status, r.body.error?.data.code]).toEqual([path, 404, "NOT_FOUND"]);
  }
  const page = await other.newPage();
  await page.goto(`/vms/${vmId}`);
  await expect(page.getByRole("alert").filter({ hasText: "not found" })).toHaveText("VM not found");
  await expect(page.getByTestId("console-screen")).toHaveCount(0);

  // Without a session nothing is answered at all.
  const anon = await browser.newContext();
  expect((await trpcQuery(anon.request, "vm.get", { vmId })).status).toBe(401);

  // The owner still controls it; clean up.
  await expect.poll(async () => ((await trpcQuery(demo.request, "vm.get", { vmId })).body.result?.data as { actions: string[] }).actions, { timeout: 60_000 }).toContain("delete");
  expect((await trpcMutation(demo.request, "vm.delete", { vmId })).status).toBe(200);
});
