// Helpers for e2e specs: log in through the API, call tRPC, read what the node wrote.
import { createHmac } from "node:crypto";
import { accessSync, constants, readFileSync, existsSync } from "node:fs";
import { join, resolve } from "node:path";
import { expect, type APIRequestContext, type Page } from "@playwright/test";

export const REPO = resolve(import.meta.dirname, "../..");
export const DEMO = { email: "demo@vdi.local", password: "e2e-demo-password" };
export const OTHER = { email: "other@vdi.local", password: "e2e-other-password" };
/** A member of the demo tenant who turns on two-factor authentication in the seat test. */
export const TOTP_USER = { email: "totp-user@vdi.local", password: "e2e-totp-password" };
/** A plain member of the demo tenant (the demo user is its admin). */
export const SEAT_USER = { email: "seat-user@vdi.local", password: "e2e-seat-password", name: "Sam Seat" };

/**
 * Why this machine cannot run microVMs (null when it can), checked here at run time the way the node
 * checks it: the KVM device (VDI_KVM_DEVICE hides it) opens read-write and vdi-vmm is built.
 */
export function microvmSkipReason(): string | null {
  const device = process.env.VDI_KVM_DEVICE?.trim() || "/dev/kvm";
  try {
    accessSync(device, constants.R_OK | constants.W_OK);
  } catch (err) {
    return `${device} is not usable (${(err as NodeJS.ErrnoException).code ?? "error"}): the microVM engine needs KVM`;
  }
  const vmm = join(REPO, "native/build/vdi-vmm");
  return existsSync(vmm) ? null : `vdi-vmm is not built (${vmm}; make -C native)`;
}

export async function logInThroughApi(request: APIRequestContext, who: { email: string; password: string }) {
  const res = await request.post("/api/trpc/auth.login", { data: who });
  if (!res.ok()) throw new Error(`login failed: ${res.status()} ${await res.text()}`);
}

/** Logs in through the login page, as a person does, and waits for the VM list. */
export async function logInThroughPage(page: Page, who: { email: string; password: string }) {
  await page.goto("/login");
  await page.getByLabel("Email").fill(who.email);
  await page.getByLabel("Password").fill(who.password);
  await page.getByRole("button", { name: "Log in" }).click();
  await expect(page.getByRole("heading", { name: "Virtual machines" })).toBeVisible();
}

export async function trpcQuery(request: APIRequestContext, path: string, input: unknown) {
  // No input: no `input` parameter at all (the text "undefined" is not JSON, and the portal says so).
  const query = input === undefined ? "" : `?input=${encodeURIComponent(JSON.stringify(input))}`;
  const res = await request.get(`/api/trpc/${path}${query}`);
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

/** Share of the console canvas that differs from its most common colour (0 = blank screen). */
export async function canvasInk(page: Page): Promise<number> {
  return page.locator('[data-testid="console-screen"] canvas').evaluate((c: HTMLCanvasElement) => {
    const ctx = c.getContext("2d");
    if (!ctx || c.width === 0 || c.height === 0) return 0;
    const d = ctx.getImageData(0, 0, c.width, c.height).data;
    const counts = new Map<number, number>();
    let n = 0;
    for (let i = 0; i < d.length; i += 4 * 3, n++) {
      const k = (d[i]! << 16) | (d[i + 1]! << 8) | d[i + 2]!;
      counts.set(k, (counts.get(k) ?? 0) + 1);
    }
    const background = Math.max(...counts.values());
    return (n - background) / n;
  });
}

/** Distinct colours on the console canvas (sampled): a desktop's icons and text give hundreds, a blank or one-colour screen a few. */
export async function canvasColours(page: Page): Promise<number> {
  return page.locator('[data-testid="console-screen"] canvas').evaluate((c: HTMLCanvasElement) => {
    const ctx = c.getContext("2d");
    if (!ctx || c.width === 0 || c.height === 0) return 0;
    const d = ctx.getImageData(0, 0, c.width, c.height).data;
    const seen = new Set<number>();
    for (let i = 0; i < d.length; i += 4 * 5) seen.add((d[i]! << 16) | (d[i + 1]! << 8) | d[i + 2]!);
    return seen.size;
  });
}

const SHIFTED: Record<string, string> = { ">": "Period", "<": "Comma", "|": "Backslash", "_": "Minus", ":": "Semicolon", '"': "Quote", "?": "Slash", "!": "Digit1", "&": "Digit7", "*": "Digit8", "(": "Digit9", ")": "Digit0", "$": "Digit4" };

/**
 * Types as a person does, holding Shift for capitals and symbols. noVNC sends QEMU physical
 * scancodes, so a "S" without a Shift key press arrives in the guest as "s".
 */
export async function typeLikeAUser(page: Page, text: string) {
  for (const ch of text) {
    if (/[A-Z]/.test(ch)) await page.keyboard.press(`Shift+Key${ch}`);
    else if (SHIFTED[ch]) await page.keyboard.press(`Shift+${SHIFTED[ch]}`);
    else if (ch === "\n") await page.keyboard.press("Enter");
    else await page.keyboard.press(ch === " " ? "Space" : ch);
    await page.waitForTimeout(15);
  }
}

/** Starts recording every progress value the page shows for operations ("kind:percent"). */
export async function recordProgress(page: Page) {
  await page.evaluate(() => {
    const w = window as unknown as { __progress: string[] };
    w.__progress = [];
    const grab = () => {
      for (const r of Array.from(document.querySelectorAll<HTMLElement>('[data-testid="operation-row"]'))) {
        const v = `${r.dataset.kind}:${r.querySelector("progress")?.getAttribute("data-progress")}`;
        if (w.__progress.at(-1) !== v && !w.__progress.includes(v)) w.__progress.push(v);
      }
    };
    new MutationObserver(grab).observe(document.body, { subtree: true, childList: true, attributes: true, characterData: true });
  });
}

export async function progressSeen(page: Page, kind: string): Promise<number[]> {
  const all = await page.evaluate(() => (window as unknown as { __progress: string[] }).__progress);
  return all.filter((x) => x.startsWith(`${kind}:`)).map((x) => Number(x.split(":")[1]));
}

/** RFC 6238 TOTP (HMAC-SHA1, 30 s steps, 6 digits) of a base32 secret: what an authenticator app shows. */
export function totpCode(secretBase32: string, atMs = Date.now()): string {
  const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
  let bits = 0, value = 0;
  const key: number[] = [];
  for (const ch of secretBase32.replace(/=+$/, "").toUpperCase()) {
    value = (value << 5) | alphabet.indexOf(ch);
    bits += 5;
    if (bits >= 8) { key.push((value >>> (bits - 8)) & 0xff); bits -= 8; }
  }
  const counter = Buffer.alloc(8);
  counter.writeBigUInt64BE(BigInt(Math.floor(atMs / 30_000)));
  const mac = createHmac("sha1", Buffer.from(key)).update(counter).digest();
  const off = mac[mac.length - 1]! & 0xf;
  return String((mac.readUInt32BE(off) & 0x7fffffff) % 1_000_000).padStart(6, "0");
}
