// Shared pieces of the node agent integration tests: start an agent process, wait, speak RFB.
import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, symlinkSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import WebSocket from "ws";
import { afterAll, beforeAll, expect } from "vitest";
import type { TestApi } from "@vdi/api/testing";
import { removeGuestEgress } from "../src/network/guest-egress.ts";

export const REPO = resolve(import.meta.dirname, "../../..");
export const IMAGES = process.env.VDI_IMAGE_DIR ?? join(REPO, "var/images");

export const JOIN = "test-join-token-0123456789";
/** The Origin the test "portal pages" open consoles from; agents under test allow only it. */
export const PAGE_ORIGIN = "http://portal.test";

/** `wrap`: a command the agent runs under, e.g. ["prlimit", "--nofile=1024", "--"]. */
export function startAgent(portalUrl: string, dataDir: string, extra: Record<string, string> = {}, wrap: string[] = []): ChildProcess {
  const argv = [process.execPath, "--import", "tsx", join(REPO, "apps/hypervisor-node/src/main.ts")];
  const child = spawn(wrap[0] ?? argv[0]!, [...wrap.slice(1), ...(wrap.length ? argv : argv.slice(1))], {
    env: { ...process.env, VDI_PORTAL_URL: portalUrl, VDI_NODE_JOIN_TOKEN: JOIN, VDI_NODE_PORT: "0", VDI_NODE_DATA_DIR: dataDir, VDI_IMAGE_DIR: IMAGES, VDI_NODE_NAME: "itest", VDI_NODE_ALLOWED_ORIGINS: PAGE_ORIGIN, ...extra },
    stdio: ["ignore", "pipe", "pipe"],
  });
  child.stdout!.on("data", (d: Buffer) => process.env.VDI_TEST_VERBOSE && process.stdout.write(d));
  child.stderr!.on("data", (d: Buffer) => process.stderr.write(d));
  child.on("exit", (code, signal) => { if (process.env.VDI_TEST_VERBOSE) console.log(`agent exited: code ${code} signal ${signal}`); });
  return child;
}

export async function until<T>(what: string, fn: () => Promise<T | null | undefined | false> | T | null | undefined | false, timeoutMs = 90_000): Promise<T> {
  const end = Date.now() + timeoutMs;
  let last: unknown;
  while (Date.now() < end) {
    try {
      const v = await fn();
      if (v) return v;
    } catch (e) {
      last = e;
    }
    await new Promise((r) => setTimeout(r, 200));
  }
  throw new Error(`timed out waiting for ${what}${last ? ` (last error: ${String(last)})` : ""}`);
}

/** Opens the console through the gateway and completes the RFB 3.8 handshake up to ServerInit (`shared`: ClientInit's flag). */
export function rfbHandshake(url: string, shared = true): Promise<{ width: number; height: number; name: string; ws: WebSocket }> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url, { origin: PAGE_ORIGIN });
    let buf = Buffer.alloc(0);
    let stage = 0;
    ws.on("close", (code, reason) => reject(new Error(`closed ${code} ${reason.toString()}`)));
    ws.on("error", reject);
    ws.on("message", (d: Buffer) => {
      buf = Buffer.concat([buf, d]);
      if (stage === 0 && buf.length >= 12) {
        expect(buf.subarray(0, 12).toString()).toBe("RFB 003.008\n");
        buf = buf.subarray(12);
        ws.send(Buffer.from("RFB 003.008\n"));
        stage = 1;
      }
      if (stage === 1 && buf.length >= 1 && buf.length >= 1 + buf[0]!) {
        const types = [...buf.subarray(1, 1 + buf[0]!)];
        buf = buf.subarray(1 + buf[0]!);
        if (!types.includes(1)) return reject(new Error(`no None security type: ${types}`));
        ws.send(Buffer.from([1]));
        stage = 2;
      }
      if (stage === 2 && buf.length >= 4) {
        if (buf.readUInt32BE(0) !== 0) return reject(new Error("security failed"));
        buf = buf.subarray(4);
        ws.send(Buffer.from([shared ? 1 : 0])); // ClientInit
        stage = 3;
      }
      if (stage === 3 && buf.length >= 24 && buf.length >= 24 + buf.readUInt32BE(20)) {
        resolve({ width: buf.readUInt16BE(0), height: buf.readUInt16BE(2), name: buf.subarray(24, 24 + buf.readUInt32BE(20)).toString(), ws });
        stage = 4;
      }
    });
  });
}

/** Alive and not a zombie (a daemonized QEMU is reparented to init, which may reap late). */
export function pidAlive(pid: number): boolean {
  try {
    return !/^\d+ \(.*\) Z/.test(readFileSync(`/proc/${pid}/stat`, "utf8"));
  } catch {
    return false;
  }
}


/** A portal API (SQLite) served over HTTP with one template seeded and one tenant user. */
export async function openPortal(templateFile: string) {
  const { openTestApi, serveApi } = await import("@vdi/api/testing");
  const { seed, imageTemplateSchema } = await import("@vdi/api");
  const api = await openTestApi("sqlite");
  const t = imageTemplateSchema.parse(JSON.parse(readFileSync(templateFile, "utf8")));
  await seed(api.deps, { admin: { email: "a@x.test", password: "admin-password" }, demo: { email: "d@x.test", password: "demo-password" }, templates: [t] });
  const alice = await api.makeUser("acme");
  const templateId = (await api.caller(alice).template.list())[0]!.id;
  const server = await serveApi(api.deps);
  return {
    api, server, alice, templateId,
    async close() {
      await server.close();
      await api.close();
    },
  };
}

/** Kills the engines of every VM under a node data folder (VMs outlive their agent by design). */
export function killVms(dataDir: string): void {
  const vms = join(dataDir, "vms");
  if (!existsSync(vms)) return;
  for (const d of readdirSync(vms)) {
    try { process.kill(Number(readFileSync(join(vms, d, "engine.pid"), "utf8")), "SIGKILL"); } catch { /* gone */ }
  }
}

/**
 * The shared fixture of the agent tests: a portal with one template, a node data folder, and the
 * agent process a test starts (killed, with its VMs, afterwards).
 */
export function agentFixture(templateFile: string, prefix: string) {
  const f = {} as Awaited<ReturnType<typeof openPortal>> & { dataDir: string; agent: ChildProcess | null };
  beforeAll(async () => {
    Object.assign(f, await openPortal(templateFile), { dataDir: mkdtempSync(join(tmpdir(), prefix)), agent: null });
  });
  afterAll(async () => {
    f.agent?.kill("SIGKILL");
    if (f.dataDir) killVms(f.dataDir);
    if (f.dataDir) await removeGuestEgress(f.dataDir);
    await f.close?.();
    if (f.dataDir) rmSync(f.dataDir, { recursive: true, force: true });
  });
  return f;
}

/** RFB KeyEvent messages that type `text` (US layout; "\n" is Enter). */
export function keyEvents(text: string): Buffer {
  const out: Buffer[] = [];
  const send = (keysym: number, down: boolean) => {
    const b = Buffer.alloc(8);
    b[0] = 4; b[1] = down ? 1 : 0; b.writeUInt32BE(keysym, 4);
    out.push(b);
  };
  for (const ch of text) {
    const shifted = /[A-Z!@#$%^&*()_+{}|:"<>?~]/.test(ch);
    const ks = ch === "\n" ? 0xff0d : ch.charCodeAt(0);
    if (shifted) send(0xffe1, true);
    send(ks, true);
    send(ks, false);
    if (shifted) send(0xffe1, false);
  }
  return Buffer.concat(out);
}

/** Types a line into the VM's screen through the console gateway (a fresh token each time). */
export async function typeLine(consoleUrl: string, line: string): Promise<void> {
  const c = await rfbHandshake(consoleUrl);
  c.ws.removeAllListeners("close");
  c.ws.on("close", () => undefined);
  // Slowly enough for a TCG guest's keyboard buffer.
  const bytes = keyEvents(`${line}\n`);
  for (let i = 0; i < bytes.length; i += 64) {
    c.ws.send(bytes.subarray(i, i + 64));
    await new Promise((r) => setTimeout(r, 15));
  }
  await new Promise((r) => setTimeout(r, 200));
  c.ws.close();
}

/** An image folder of its own for a test (templates made from VMs are written there). */
export function privateImageDir(from: string, image: string): string {
  const dir = mkdtempSync(join(tmpdir(), "vdi-images-"));
  mkdirSync(join(dir, image));
  for (const f of readdirSync(join(from, image))) symlinkSync(join(from, image, f), join(dir, image, f));
  return dir;
}

/** Why the QEMU agent tests cannot run on this machine, or null when they can. */
export function qemuSkipReason(templateFile: string): string | null {
  if (spawnSync("qemu-system-x86_64", ["--version"]).status !== 0) return "qemu-system-x86_64 is not installed (scripts/setup.sh installs it)";
  if (!existsSync(templateFile)) return `guest template not built (${templateFile}; scripts/build-images.sh builds it)`;
  return null;
}

type Caller = ReturnType<TestApi["caller"]>;

/**
 * Drives the guests of one node data folder through the API: waits for operations, types a
 * command on a VM's screen through the console gateway, and reads what it wrote to its serial port.
 */
export function guestDriver(c: Caller, dataDir: string) {
  const vmDir = (id: string) => join(dataDir, "vms", id);
  const serial = (id: string) => (existsSync(join(vmDir(id), "serial.log")) ? readFileSync(join(vmDir(id), "serial.log"), "utf8") : "");
  return {
    vmDir,
    serial,
    /** The operation once it has ended; it must have succeeded. */
    async opDone(operationId: string, timeoutMs = 120_000) {
      const op = await until(`operation ${operationId}`, async () => {
        const o = await c.operation.get({ operationId });
        return o.status === "succeeded" || o.status === "failed" ? o : null;
      }, timeoutMs);
      expect(op.error ?? null).toBeNull();
      expect(op.status).toBe("succeeded");
      return op;
    },
    /** Types `cmd > /dev/ttyS0` on the VM's screen and waits for `text` on its serial port. */
    async say(vmId: string, cmd: string, text: string) {
      await typeLine((await c.console.open({ vmId })).url, `${cmd} > /dev/ttyS0`);
      await until(`guest says ${text}`, () => serial(vmId).includes(text), 30_000);
    },
    /** Waits for the guest's ready line (after `from` characters of its serial log). */
    ready: (vmId: string, name: string, from = 0) => until(`${name} ready`, () => serial(vmId).slice(from).includes(`VDI-GUEST-READY ${name}`), 90_000),
  };
}
