// Property tests of the console relay. The handshake watch and the client message scanner alone
// (many runs): every RFB version and security type in any split and interleaving finishes the
// handshake, input is told from viewer traffic, garbage never throws and never piles up. Then a
// real gateway between a WebSocket client and a fake display on a unix socket (fewer runs): a
// valid client stream in any split (one byte a message included) arrives intact and in order;
// random garbage is closed with a gateway code and leaves no connection behind.
import { describe, it, expect, beforeAll, afterAll } from "vitest";
import fc from "fast-check";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import {
  MAX_CLIENT_HANDSHAKE_BYTES, MAX_SERVER_HANDSHAKE_BYTES, RfbClientMessages, RfbRelayWatch,
} from "../src/rfb/rfb-relay-watch.ts";
import { CLOSE } from "../src/gateway/console-gateway.ts";
import { CLIENT_HANDSHAKE, openConsole, serverInit, startFakeDisplay, startGateway, waitUntil } from "./console-fixtures.ts";

const SEED = 4_242_001;
const u16 = (n: number) => { const b = Buffer.alloc(2); b.writeUInt16BE(n); return b; };
const u32 = (n: number) => { const b = Buffer.alloc(4); b.writeUInt32BE(n >>> 0); return b; };
const bytes = (min: number, max = min) => fc.uint8Array({ minLength: min, maxLength: max }).map((a) => Buffer.from(a));
const withType = (type: number, rest: fc.Arbitrary<Buffer>) => rest.map((r) => Buffer.concat([Buffer.from([type]), r]));

/** RFB client messages (§7.5 and the registered extensions), each marked as user input or not. */
const clientMessageArb: fc.Arbitrary<{ bytes: Buffer; input: boolean }> = fc.oneof(
  withType(0, bytes(19)).map((b) => ({ bytes: b, input: false })),                                  // SetPixelFormat
  fc.array(fc.integer({ min: -(2 ** 31), max: 2 ** 31 - 1 }), { maxLength: 8 }).map((encs) => {     // SetEncodings
    const b = Buffer.alloc(4 + 4 * encs.length);
    b[0] = 2;
    b.writeUInt16BE(encs.length, 2);
    encs.forEach((e, i) => b.writeInt32BE(e, 4 + 4 * i));
    return { bytes: b, input: false };
  }),
  withType(3, bytes(9)).map((b) => ({ bytes: b, input: false })),                                   // FramebufferUpdateRequest
  withType(4, bytes(7)).map((b) => ({ bytes: b, input: true })),                                    // KeyEvent
  withType(5, bytes(5)).map((b) => ({ bytes: b, input: true })),                                    // PointerEvent
  fc.tuple(bytes(0, 40), fc.boolean()).map(([text, extended]) => {                                   // ClientCutText
    const b = Buffer.concat([Buffer.from([6, 0, 0, 0]), Buffer.alloc(4), text]);
    b.writeInt32BE(extended ? -text.length : text.length, 4);
    return { bytes: b, input: true };
  }),
  withType(150, bytes(9)).map((b) => ({ bytes: b, input: false })),                                 // EnableContinuousUpdates
  bytes(0, 64).map((p) => ({ bytes: Buffer.concat([Buffer.from([248, 0, 0, 0, 0, 0, 0, 1, p.length]), p]), input: false })),  // ClientFence
  fc.integer({ min: 0, max: 255 }).map((op) => ({ bytes: Buffer.from([250, 0, 1, op]), input: false })),        // xvp
  fc.array(bytes(16), { maxLength: 3 }).map((screens) => ({                                          // SetDesktopSize
    bytes: Buffer.concat([Buffer.from([251, 0]), u16(800), u16(600), Buffer.from([screens.length, 0]), ...screens]), input: true,
  })),
  fc.tuple(bytes(0, 20), fc.boolean()).map(([payload, bigEndian]) => {                               // gii
    const b = Buffer.concat([Buffer.from([253, bigEndian ? 0x81 : 0x01, 0, 0]), payload]);
    if (bigEndian) b.writeUInt16BE(payload.length, 2);
    else b.writeUInt16LE(payload.length, 2);
    return { bytes: b, input: true };
  }),
  withType(255, bytes(11)).map((b) => { b[1] = 0; return { bytes: b, input: true }; }),              // QEMU extended key event
  fc.constantFrom(Buffer.from([255, 1, 0, 0]), Buffer.from([255, 1, 0, 1]), Buffer.from([255, 1, 0, 2, 3, 2, 0, 0, 172, 68]))
    .map((b) => ({ bytes: b, input: false })),                                                       // QEMU audio
);

/** Cut points: one chunk, one byte at a time, or random pieces. */
function splitsOf(stream: Buffer): fc.Arbitrary<Buffer[]> {
  if (stream.length <= 1) return fc.constant<Buffer[]>(stream.length ? [stream] : []);
  return fc.oneof(
    fc.constant<Buffer[]>([stream]),
    fc.constant<Buffer[]>([...stream].map((b) => Buffer.from([b]))),
    fc.uniqueArray(fc.integer({ min: 1, max: stream.length - 1 }), { maxLength: 16 }).map((cuts) => {
      const at = [0, ...cuts.sort((a, b) => a - b), stream.length];
      return at.slice(1).map((end, i) => stream.subarray(at[i], end));
    }),
  );
}

/** Every handshake the watch follows: [what the client says, what the display says]. */
const HANDSHAKES: Record<string, [Buffer, Buffer]> = (() => {
  const v = (minor: number) => Buffer.from(`RFB 003.00${minor}\n`);
  const challenge = Buffer.alloc(16, 0xc4);
  const init = serverInit(640, 480);
  return {
    "3.8 None": [Buffer.concat([v(8), Buffer.from([1, 1])]), Buffer.concat([v(8), Buffer.from([1, 1]), u32(0), init])],
    "3.8 VNC auth": [Buffer.concat([v(8), Buffer.from([2]), challenge, Buffer.from([0])]), Buffer.concat([v(8), Buffer.from([2, 1, 2]), challenge, u32(0), init])],
    "3.7 None": [Buffer.concat([v(7), Buffer.from([1, 1])]), Buffer.concat([v(7), Buffer.from([1, 1]), init])],
    "3.3 None": [Buffer.concat([v(3), Buffer.from([1])]), Buffer.concat([v(8), u32(1), init])],
    "3.3 VNC auth": [Buffer.concat([v(3), challenge, Buffer.from([1])]), Buffer.concat([v(3), u32(2), challenge, u32(0), init])],
  };
})();

/** Interleaves two chunk lists, each in its own order, as `order` says. */
function interleave<T>(a: T[], b: T[], order: boolean[]): { side: "a" | "b"; chunk: T }[] {
  const out: { side: "a" | "b"; chunk: T }[] = [];
  let i = 0, j = 0, k = 0;
  while (i < a.length || j < b.length) {
    const takeA = j >= b.length || (i < a.length && (order[k++ % Math.max(1, order.length)] ?? true));
    out.push(takeA ? { side: "a", chunk: a[i++]! } : { side: "b", chunk: b[j++]! });
  }
  return out;
}

describe("RFB relay watch, fuzzed", () => {
  it("finishes every supported handshake in any split and interleaving, then tells input from viewer traffic", () => {
    const arb = fc.constantFrom(...Object.keys(HANDSHAKES)).chain((kind) => {
      const [client, server] = HANDSHAKES[kind]!;
      return fc.record({
        kind: fc.constant(kind),
        client: splitsOf(client), server: splitsOf(server),
        order: fc.array(fc.boolean(), { minLength: 1, maxLength: 32 }),
        messages: fc.array(clientMessageArb, { maxLength: 12 }),
      });
    });
    fc.assert(fc.property(arb, ({ client, server, order, messages }) => {
      let done = 0;
      const failures: string[] = [];
      const watch = new RfbRelayWatch({ done: () => done++, fail: (r) => failures.push(r) });
      for (const { side, chunk } of interleave(client, server, order)) {
        if (side === "a") watch.fromClient(chunk);
        else watch.fromServer(chunk);
        expect(watch.buffered).toBeLessThanOrEqual(MAX_CLIENT_HANDSHAKE_BYTES + MAX_SERVER_HANDSHAKE_BYTES);
      }
      expect(failures).toEqual([]);
      expect(done).toBe(1);
      expect(watch.handshakeDone).toBe(true);
      const sawInput = messages.map((m) => watch.fromClient(m.bytes)).some(Boolean);
      expect(sawInput).toBe(messages.some((m) => m.input));
      expect(failures).toEqual([]);
    }), { seed: SEED, numRuns: 600 });
  });

  it("never throws on garbage from either side, settles at most once, and holds little", () => {
    const arb = fc.record({
      client: fc.array(bytes(0, 40), { maxLength: 8 }),
      server: fc.array(bytes(0, 400), { maxLength: 8 }),
      order: fc.array(fc.boolean(), { minLength: 1, maxLength: 16 }),
      // Sometimes a valid start, so the garbage lands in the later phases too.
      prefix: fc.constantFrom(...Object.keys(HANDSHAKES), "none"),
    });
    fc.assert(fc.property(arb, ({ client, server, order, prefix }) => {
      const events: string[] = [];
      const watch = new RfbRelayWatch({ done: () => events.push("done"), fail: () => events.push("fail") });
      const [c0, s0] = HANDSHAKES[prefix] ?? [Buffer.alloc(0), Buffer.alloc(0)];
      const cut = (b: Buffer) => b.subarray(0, Math.floor(b.length / 2));
      for (const { side, chunk } of interleave([cut(c0), ...client], [cut(s0), ...server], order)) {
        if (side === "a") watch.fromClient(chunk);
        else watch.fromServer(chunk);
        expect(watch.buffered).toBeLessThanOrEqual(MAX_CLIENT_HANDSHAKE_BYTES + MAX_SERVER_HANDSHAKE_BYTES + 64);
      }
      expect(events.length).toBeLessThanOrEqual(1);
      if (events[0] === "fail") expect(watch.error).not.toMatch(/^internal/);
    }), { seed: SEED, numRuns: 1000 });
  });

  it("the message scanner keeps the framing in any split: input chunks are exactly the ones holding input", () => {
    const arb = fc.array(clientMessageArb, { maxLength: 20 }).chain((messages) => {
      const stream = Buffer.concat(messages.map((m) => m.bytes));
      return splitsOf(stream).map((pieces) => ({ messages, pieces }));
    });
    fc.assert(fc.property(arb, ({ messages, pieces }) => {
      // Byte ranges of the input messages.
      const ranges: [number, number][] = [];
      let at = 0;
      for (const m of messages) {
        if (m.input) ranges.push([at, at + m.bytes.length]);
        at += m.bytes.length;
      }
      const scanner = new RfbClientMessages();
      let offset = 0;
      for (const p of pieces) {
        const input = scanner.feed(p);
        const [from, to] = [offset, offset + p.length];
        const overlaps = ranges.some(([s, e]) => s < to && from < e);
        const holdsWhole = ranges.some(([s, e]) => from <= s && e <= to);
        if (input) expect(overlaps).toBe(true);
        if (holdsWhole) expect(input).toBe(true);
        offset = to;
      }
      expect(scanner.lost).toBe(false);
      expect(scanner.buffered).toBe(0);
    }), { seed: SEED, numRuns: 800 });
  });
});

// ---- through a real gateway ------------------------------------------------------------------

let dir: string;
let gateway: Awaited<ReturnType<typeof startGateway>>;
let display: Awaited<ReturnType<typeof startFakeDisplay>>;

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), "vdi-fuzz-gw-"));
  display = await startFakeDisplay(join(dir, "vnc.sock"), "rfb");
  // Rates high enough for one-byte messages; a short handshake timeout for garbage that never finishes one.
  gateway = await startGateway({ vm1: join(dir, "vnc.sock") }, {
    limits: { messagesPerSecond: 100_000, messageBurst: 100_000, handshakeMs: 300, closeGraceMs: 200 },
  });
});
afterAll(async () => {
  await gateway?.close();
  display?.server.close();
  rmSync(dir, { recursive: true, force: true });
});

/** Sends `pieces` as one WebSocket message each, once the socket is open. */
async function sendAll(c: ReturnType<typeof openConsole>, pieces: Buffer[]): Promise<void> {
  await new Promise<void>((resolve) => (c.ws.readyState === c.ws.OPEN ? resolve() : c.ws.once("open", () => resolve())));
  for (const p of pieces) if (c.ws.readyState === c.ws.OPEN) c.ws.send(p);
}

describe("console gateway relay, fuzzed", () => {
  it("a valid client stream in any split arrives at the display intact and in order", async () => {
    const arb = fc.array(clientMessageArb, { maxLength: 24 }).chain((messages) => {
      const stream = Buffer.concat([CLIENT_HANDSHAKE, ...messages.map((m) => m.bytes)]);
      return splitsOf(stream).map((pieces) => ({ stream, pieces }));
    });
    await fc.assert(fc.asyncProperty(arb, async ({ stream, pieces }) => {
      const before = display.connections.length;
      const c = openConsole(gateway.url, "vm1", { sendHandshake: false });
      await sendAll(c, pieces);
      await waitUntil(() => display.connections.length > before, 3_000, "the display connection");
      const conn = display.connections[before]!;
      await waitUntil(() => Buffer.concat(conn.raw).length >= stream.length, 3_000, "every byte at the display");
      expect(Buffer.concat(conn.raw).equals(stream)).toBe(true);
      expect(c.ws.readyState).toBe(c.ws.OPEN);
      c.ws.close();
      await c.closed;
    }), { seed: SEED, numRuns: 60, timeout: 8_000 });
    await waitUntil(() => gateway.gw.activeConnections() === 0, 2_000, "no console left open");
  });

  it("random garbage from a client is closed with a gateway code, never reaches the display, leaves nothing open", async () => {
    // Mostly long enough to be judged at once; some too short, which only the handshake timeout ends.
    const garbageArb = fc.oneof(
      { weight: 9, arbitrary: fc.uint8Array({ minLength: 12, maxLength: 300, size: "max" }) },
      { weight: 1, arbitrary: fc.uint8Array({ maxLength: 11 }) },
    ).map((a) => Buffer.from(a));
    const arb = garbageArb.chain((garbage) => splitsOf(garbage).map((pieces) => ({ garbage, pieces })));
    await fc.assert(fc.asyncProperty(arb, async ({ pieces }) => {
      const before = display.connections.length;
      const c = openConsole(gateway.url, "vm1", { sendHandshake: false });
      await sendAll(c, pieces);
      const { code } = await c.closed;
      expect([CLOSE.PROTOCOL_ERROR, CLOSE.HANDSHAKE_TIMEOUT]).toContain(code);
      await waitUntil(() => display.connections.length > before && display.connections[before]!.closed, 2_000, "the display socket to close");
      expect(display.connections[before]!.raw).toEqual([]);
    }), { seed: SEED, numRuns: 60, timeout: 8_000 });
    await waitUntil(() => gateway.gw.activeConnections() === 0, 2_000, "no console left open");
  });

  it("garbage after a valid handshake is relayed as it is (the display judges it), and the console ends cleanly", async () => {
    const arb = fc.uint8Array({ minLength: 1, maxLength: 2000, size: "max" }).map((a) => Buffer.from(a)).chain((garbage) => splitsOf(garbage).map((pieces) => ({ garbage, pieces })));
    await fc.assert(fc.asyncProperty(arb, async ({ garbage, pieces }) => {
      const before = display.connections.length;
      const c = openConsole(gateway.url, "vm1");
      await c.handshake();
      await sendAll(c, pieces);
      const conn = display.connections[before]!;
      await waitUntil(() => conn.messages().length >= garbage.length, 3_000, "the garbage at the display");
      expect(conn.messages().equals(garbage)).toBe(true);
      c.ws.close();
      await c.closed;
    }), { seed: SEED, numRuns: 40, timeout: 8_000 });
    await waitUntil(() => gateway.gw.activeConnections() === 0, 2_000, "no console left open");
  });
});
