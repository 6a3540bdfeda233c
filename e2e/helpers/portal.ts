// Helpers for e2e specs: log in through the API, call tRPC, read what the node wrote.
import { readFileSync, existsSync } from "node:fs";
import { join, resolve } from "node:path";
import type { APIRequestContext, Page } from "@playwright/test";

export const REPO = resolve(import.meta.dirname, "../..");
export const DEMO = { email: "demo@vdi.local", password: "e2e-demo-password" };
export const OTHER = { email: "other@vdi.local", password: "e2e-other-password" };

export async function logInThroughApi(request: APIRequestContext, who: { email: string; password: string }) {
  const res = await request.post("/api/trpc/auth.login", { data: who });
  if (!res.ok()) throw new Error(`login failed: ${res.status()} ${await res.text()}`);
}

export async function trpcQuery(request: APIRequestContext, path: string, input: unknown) {
  const res = await request.get(`/api/trpc/${path}?input=${encodeURIComponent(JSON.stringify(input))}`);
  return { status: res.status(), body: (await res.json()) as { result?: { data: unknown }; error?: { message: string; data: { code: string } } } };
}

export async function trpcMutation(request: APIRequestContext, path: string, input: unknown) {
  const res = await request.post(`/api/trpc/${path}`, { data: input });
  return { status: res.status(), body: (await res.json()) as { result?: { data: unknown }; error?: { message: string; data: { code: string } } } };
}

export function serialLog(vmId: string): string {
  const file = join(REPO, "var/e2e/node/vms", vmId, "serial.log");
  return existsSync(file) ? readFileSync(file, "utf8") : "";
}

/** Counts the distinct colours in the console canvas (a blank screen has one). */
export async function canvasColours(page: Page): Promise<number> {
  return page.locator('[data-testid="console-screen"] canvas').evaluate((c: HTMLCanvasElement) => {
    const ctx = c.getContext("2d");
    if (!ctx || c.width === 0) return 0;
    const d = ctx.getImageData(0, 0, c.width, c.height).data;
    const seen = new Set<number>();
    for (let i = 0; i < d.length && seen.size < 64; i += 4 * 7) seen.add((d[i]! << 16) | (d[i + 1]! << 8) | d[i + 2]!);
    return seen.size;
  });
}
