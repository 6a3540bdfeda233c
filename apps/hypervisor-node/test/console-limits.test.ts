// Every per-connection limit of the console gateway, with small values: message and byte rates,
// idle (only user input counts), the RFB handshake timeout, a client that breaks the handshake,
// a client that stops reading, a client that stops answering pings; and the two revocations:
// the VM stopped on the node, the user's access revoked on the portal.
import { describe, it, expect, beforeAll, afterAll } from "vitest";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { Socket } from "node:net";
import { CLOSE } from "../src/gateway/console-gateway.ts";
import { consoleLimits, DEFAULT_CONSOLE_LIMITS, TokenBucket } from "../src/gateway/console-limits.ts";
import {
  keyEvent, openConsole, pointerEvent, startFakeDisplay, startGateway, updateRequest, waitUntil, type DisplayConnection,
} from "./console-fixtures.ts";

const LIMITS = {
  messagesPerSecond: 20, messageBurst: 20,
  bytesPerSecond: 64 * 1024, byteBurst: 64 * 1024, maxMessageBytes: 64 * 1024,
  // Wide enough that a busy machine's timer jitter trips none of them by mistake.
  idleMs: 800, handshakeMs: 500, pingIntervalMs: 200, pongTimeoutMs: 1_000,
  sendHighWaterBytes: 256 * 1024, slowClientMs: 300, closeGraceMs: 200,
};

let dir: string;
let gateway: Awaited<ReturnType<typeof startGateway>>;
const displays: Record<string, Awaited<ReturnType<typeof startFakeDisplay>>> = {};

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), "vdi-limits-"));
  const paths: Record<string, string> = {};
  for (const [vm, mode] of [["vm-a", "rfb"], ["vm-b", "rfb"], ["vm-silent", "silent"], ["vm-flood", "flood"]] as const) {
    paths[vm] = join(dir, `${vm}.sock`);
    displays[vm] = await startFakeDisplay(paths[vm]!, mode);
  }
  gateway = await startGateway(paths, { limits: LIMITS });
});
afterAll(async () => {
  await gateway?.close();
  for (const d of Object.values(displays)) d.server.close();
  rmSync(dir, { recursive: true, force: true });
});

const lastConnection = (vm: string): DisplayConnection => displays[vm]!.connections.at(-1)!;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Sends `message` every `everyMs` until stopped: keeps a console busy. */
function keepSending(c: ReturnType<typeof openConsole>, message: () => Buffer, everyMs: number) {
  const t = setInterval(() => { if (c.ws.readyState === c.ws.OPEN) c.ws.send(message()); }, everyMs);
  return () => clearInterval(t);
}

describe("limits", () => {
  it("defaults are the documented ones, and nonsense is refused", () => {
    expect(DEFAULT_CONSOLE_LIMITS).toMatchObject({
      messagesPerSecond: 200, bytesPerSecond: 4 * 1024 * 1024, idleMs: 30 * 60_000, handshakeMs: 10_000,
      pingIntervalMs: 15_000, pongTimeoutMs: 30_000, slowClientMs: 10_000,
    });
    expect(() => consoleLimits({ idleMs: 0 })).toThrow(/idleMs must be a positive number/);
    expect(() => consoleLimits({ byteBurst: 1024 })).toThrow(/byteBurst must hold at least one message/);
  });

  it("a token bucket allows the burst, then the rate", () => {
    let now = 0;
    const bucket = new TokenBucket(10, 5, () => now);
    expect(Array.from({ length: 6 }, () => bucket.take(1))).toEqual([true, true, true, true, true, false]);
    now += 100;  // one token back
    expect([bucket.take(1), bucket.take(1)]).toEqual([true, false]);
    now += 10_000;  // never more than the burst
    expect(bucket.take(6)).toBe(false);
    expect(bucket.take(5)).toBe(true);
  });
});

describe("console gateway limits", () => {
  it("a console that sends input stays open past the handshake timeout and the idle time", async () => {
    const c = openConsole(gateway.url, "vm-a");
    await c.handshake();
    const stop = keepSending(c, () => pointerEvent(), 100);
    await sleep(LIMITS.handshakeMs + LIMITS.idleMs + 200);
    stop();
    expect(c.ws.readyState).toBe(c.ws.OPEN);
    expect(lastConnection("vm-a").messages().subarray(0, 6)).toEqual(pointerEvent());
    c.ws.close();
    await c.closed;
  });

  it("too many messages a second: closed with 4429", async () => {
    const c = openConsole(gateway.url, "vm-a");
    await c.handshake();
    for (let i = 0; i < 40; i++) c.ws.send(keyEvent(i % 2 === 0));
    expect(await c.closed).toEqual({ code: CLOSE.RATE_LIMITED, reason: "rate limit: messages" });
  });

  it("too many bytes a second: closed with 4429", async () => {
    const c = openConsole(gateway.url, "vm-a");
    await c.handshake();
    const cut = Buffer.alloc(8 + 30_000);
    cut[0] = 6;
    cut.writeUInt32BE(30_000, 4);
    for (let i = 0; i < 3; i++) c.ws.send(cut);
    expect(await c.closed).toEqual({ code: CLOSE.RATE_LIMITED, reason: "rate limit: bytes" });
  });

  it("no user input for idleMs: closed with 4408 idle, though the viewer keeps asking for updates", async () => {
    const c = openConsole(gateway.url, "vm-a");
    await c.handshake();
    const t0 = Date.now();
    const stop = keepSending(c, updateRequest, 100);
    const closed = await c.closed;
    stop();
    expect(closed).toEqual({ code: CLOSE.IDLE, reason: "idle" });
    expect(Date.now() - t0).toBeGreaterThanOrEqual(LIMITS.idleMs - 100);
  });

  it("an RFB handshake that does not finish in time: closed with 4432", async () => {
    const t0 = Date.now();
    const c = openConsole(gateway.url, "vm-silent");
    expect(await c.closed).toEqual({ code: CLOSE.HANDSHAKE_TIMEOUT, reason: "RFB handshake timeout" });
    expect(Date.now() - t0).toBeGreaterThanOrEqual(LIMITS.handshakeMs - 20);
    await waitUntil(() => lastConnection("vm-silent").closed, 2_000, "the display socket to close");
  });

  it("a client that does not speak RFB is closed with 4400 before its bytes reach the display", async () => {
    const c = openConsole(gateway.url, "vm-a", { sendHandshake: false });
    c.ws.on("open", () => c.ws.send(Buffer.from("GET / HTTP/1.1\r\nHost: x\r\n\r\n")));
    expect(await c.closed).toEqual({ code: CLOSE.PROTOCOL_ERROR, reason: "not an RFB client" });
    expect(lastConnection("vm-a").raw).toEqual([]);
  });

  it("a client that stops reading is cut (4430) and the display socket closed", async () => {
    const before = gateway.gw.activeConnections();
    const c = openConsole(gateway.url, "vm-flood");
    await c.handshake();
    const socket = (c.ws as unknown as { _socket: Socket })._socket;
    socket.pause();
    const stop = keepSending(c, () => pointerEvent(), 100);  // busy typing, not reading: not idle
    await waitUntil(() => gateway.gw.activeConnections() === before, 5_000, "the gateway to cut the client");
    stop();
    expect(gateway.logs.filter((l) => l.includes("vm-flood"))).toEqual([`console of vm vm-flood closed (${CLOSE.SLOW_CLIENT}): client not reading`]);
    await waitUntil(() => lastConnection("vm-flood").closed, 2_000, "the display socket to close");
    // The close frame sat behind everything unread: it arrives, or the socket was dropped after the grace period.
    socket.resume();
    expect([CLOSE.SLOW_CLIENT, 1006]).toContain((await c.closed).code);
  });

  it("a client that stops answering pings: closed with 4431", async () => {
    const c = openConsole(gateway.url, "vm-a", { autoPong: false });
    await c.handshake();
    const stop = keepSending(c, () => pointerEvent(), 100);
    const closed = await c.closed;
    stop();
    expect(closed).toEqual({ code: CLOSE.PONG_TIMEOUT, reason: "no pong" });
  });
});

describe("revocation", () => {
  it("the VM stopped: its consoles close with 4407 vm stopped, other VMs' stay", async () => {
    const a = openConsole(gateway.url, "vm-a");
    const b = openConsole(gateway.url, "vm-b");
    await Promise.all([a.handshake(), b.handshake()]);
    expect(gateway.gw.consoleVms().sort()).toEqual(["vm-a", "vm-b"]);
    expect(gateway.gw.closeVm("vm-a", "vm stopped")).toBe(1);
    expect(await a.closed).toEqual({ code: CLOSE.VM_STOPPED, reason: "vm stopped" });
    await waitUntil(() => lastConnection("vm-a").closed, 2_000, "the display socket to close");
    expect(b.ws.readyState).toBe(b.ws.OPEN);
    expect(gateway.gw.consoleVms()).toEqual(["vm-b"]);
    b.ws.close();
    await b.closed;
  });

  it("the user's access revoked: their consoles close with 4406, new ones are refused until the portal lifts it", async () => {
    const mine = openConsole(gateway.url, "vm-a", { user: "u1" });
    const theirs = openConsole(gateway.url, "vm-a", { user: "u2" });
    await Promise.all([mine.handshake(), theirs.handshake()]);
    expect(gateway.gw.revokeUsers(["u2", "someone-else"])).toBe(1);
    expect(await theirs.closed).toEqual({ code: CLOSE.REVOKED, reason: "access revoked" });
    expect(mine.ws.readyState).toBe(mine.ws.OPEN);
    expect(await openConsole(gateway.url, "vm-b", { user: "u2" }).closed).toEqual({ code: CLOSE.REVOKED, reason: "access revoked" });
    gateway.gw.revokeUsers([]);
    const again = openConsole(gateway.url, "vm-b", { user: "u2" });
    await again.handshake();
    for (const c of [mine, again]) {
      c.ws.close();
      await c.closed;
    }
  });
});
