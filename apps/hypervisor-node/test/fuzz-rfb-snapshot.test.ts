// Property tests of the thumbnail grabber's RFB client: the display's bytes are guest-driven.
// Random server streams (mostly well-formed, with hostile sizes and garbage mixed in) in random
// splits: the session never throws, reaches the same outcome however the bytes are split, fails
// only with reasons of its own (never "internal"), never allocates past the pixel cap; and
// grabFrame over a real socket settles by its timeout with a frame or an RfbSnapshotError.
import { describe, it, expect, beforeAll, afterAll, vi } from "vitest";
import fc from "fast-check";
import { createServer, type Server, type Socket } from "node:net";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { MAX_PIXELS, RfbSnapshotError, RfbSnapshotSession, grabFrame } from "../src/rfb/rfb-snapshot.ts";

const SEED = 20_260_517;
const u16 = (n: number) => { const b = Buffer.alloc(2); b.writeUInt16BE(n); return b; };
const u32 = (n: number) => { const b = Buffer.alloc(4); b.writeUInt32BE(n >>> 0); return b; };
const bytes = (max: number) => fc.uint8Array({ maxLength: max }).map((a) => Buffer.from(a));

/** Sizes a guest might send: mostly small, sometimes the edges. */
const dimension = fc.oneof(
  { weight: 8, arbitrary: fc.integer({ min: 1, max: 24 }) },
  { weight: 1, arbitrary: fc.constantFrom(0, 4096, 5000, 8192, 8193, 65535) },
);

const serverInitArb = (w: number, h: number) => fc.record({ name: bytes(16), nameLength: fc.option(fc.constantFrom(1025, 2 ** 32 - 1), { freq: 10 }) })
  .map(({ name, nameLength }) => Buffer.concat([u16(w), u16(h), Buffer.alloc(16, 7), u32(nameLength ?? name.length), name]));

/** A rectangle: Raw with (random) pixels, DesktopSize, or an encoding nobody asked for. */
const rectArb = fc.record({
  x: fc.integer({ min: 0, max: 30 }), y: fc.integer({ min: 0, max: 30 }), w: fc.integer({ min: 0, max: 24 }), h: fc.integer({ min: 0, max: 24 }),
  encoding: fc.oneof({ weight: 6, arbitrary: fc.constant(0) }, { weight: 1, arbitrary: fc.constant(-223) }, { weight: 1, arbitrary: fc.integer({ min: -300, max: 20 }) }),
  fill: fc.integer({ min: 0, max: 255 }),
}).map(({ x, y, w, h, encoding, fill }) => {
  const head = Buffer.concat([u16(x), u16(y), u16(w), u16(h), Buffer.alloc(4)]);
  head.writeInt32BE(encoding, 8);
  return encoding === 0 ? Buffer.concat([head, Buffer.alloc(w * h * 4, fill)]) : head;
});

/** A whole frame for a w×h screen: makes a successful grab reachable. */
const fullFrame = (w: number, h: number) => Buffer.concat([Buffer.from([0, 0]), u16(1), u16(0), u16(0), u16(w), u16(h), Buffer.alloc(4), Buffer.alloc(w * h * 4, 9)]);

/** Server messages for a w×h screen; a whole frame of that size makes a successful grab reachable. */
const messageArb = (w: number, h: number) => fc.oneof(
  { weight: 2, arbitrary: fc.array(rectArb, { maxLength: 4 }).map((rects) => Buffer.concat([Buffer.from([0, 0]), u16(rects.length), ...rects])) },
  { weight: 4, arbitrary: fc.constant(w * h <= 24 * 24 ? fullFrame(w, h) : Buffer.from([2])) },
  { weight: 1, arbitrary: fc.constant(Buffer.from([2])) },
  { weight: 1, arbitrary: fc.integer({ min: 0, max: 40 }).map((n) => Buffer.concat([Buffer.from([1, 0]), u16(0), u16(n), Buffer.alloc(n * 6)])) },
  { weight: 1, arbitrary: fc.oneof(bytes(40), fc.constant(Buffer.alloc(0))).map((t) => Buffer.concat([Buffer.from([3, 0, 0, 0]), u32(t.length), t])) },
  { weight: 1, arbitrary: fc.constant(Buffer.concat([Buffer.from([3, 0, 0, 0]), u32(2 ** 31)])) },
  { weight: 1, arbitrary: bytes(24) },  // garbage
);

const handshakeArb = fc.oneof(
  { weight: 6, arbitrary: fc.constant(Buffer.concat([Buffer.from("RFB 003.008\n"), Buffer.from([1, 1]), u32(0)])) },
  { weight: 1, arbitrary: fc.constantFrom("RFB 003.003\n", "RFB 004.000\n", "RFB 003.889\n").map((v) => Buffer.from(v)) },
  { weight: 1, arbitrary: fc.record({ types: bytes(6), reason: bytes(12), result: fc.integer({ min: 0, max: 3 }) })
    .map(({ types, reason, result }) => Buffer.concat([Buffer.from("RFB 003.008\n"), Buffer.from([types.length]), types, u32(result), u32(reason.length), reason])) },
  { weight: 1, arbitrary: bytes(20) },
);

const serverStreamArb = fc.oneof(
  { weight: 9, arbitrary: fc.tuple(dimension, dimension).chain(([w, h]) => fc.tuple(handshakeArb, serverInitArb(w, h), fc.array(messageArb(w, h), { maxLength: 8 })))
    .map(([a, b, c]) => Buffer.concat([a, b, ...c])) },
  { weight: 1, arbitrary: fc.uint8Array({ maxLength: 300, size: "max" }).map((a) => Buffer.from(a)) },
);

/** Cut points for a stream: one chunk, one byte at a time, or random pieces. */
function splitsOf(stream: Buffer): fc.Arbitrary<Buffer[]> {
  return fc.oneof(
    fc.constant<Buffer[]>([stream]),
    fc.constant<Buffer[]>([...stream].map((b) => Buffer.from([b]))),
    fc.uniqueArray(fc.integer({ min: 1, max: Math.max(1, stream.length - 1) }), { maxLength: 12 }).map((cuts) => {
      const at = [0, ...cuts.filter((c) => c < stream.length).sort((a, b) => a - b), stream.length];
      return at.slice(1).map((end, i) => stream.subarray(at[i], end));
    }),
  );
}
const streamWithSplits = serverStreamArb.chain((stream) => splitsOf(stream).map((pieces) => ({ stream, pieces })));

function runSession(pieces: Buffer[]) {
  let settles = 0;
  const session = new RfbSnapshotSession(() => undefined, () => settles++);
  for (const p of pieces) session.feed(p);
  return { session, settles };
}

describe("RFB snapshot session, fuzzed", () => {
  it("never throws, never fails 'internally', settles at most once, and the split does not matter", () => {
    let biggest = 0;
    const realAlloc = Buffer.alloc.bind(Buffer);
    const spy = vi.spyOn(Buffer, "alloc").mockImplementation(((size: number, ...rest: never[]) => {
      biggest = Math.max(biggest, size);
      return realAlloc(size, ...rest);
    }) as typeof Buffer.alloc);
    try {
      fc.assert(fc.property(streamWithSplits, ({ stream, pieces }) => {
        const whole = runSession([stream]);
        biggest = 0;
        const split = runSession(pieces);
        expect(biggest).toBeLessThanOrEqual(MAX_PIXELS * 4);
        expect(split.settles).toBeLessThanOrEqual(1);
        expect(split.session.settled).toBe(split.settles === 1);
        expect(split.session.error ?? "").not.toMatch(/^internal/);
        expect(split.session.error).toBe(whole.session.error);
        expect(split.session.frame?.width).toBe(whole.session.frame?.width);
        if (split.session.frame) {
          const { width, height, rgba } = split.session.frame;
          expect(width * height).toBeLessThanOrEqual(MAX_PIXELS);
          expect(rgba.length).toBe(width * height * 4);
          expect(rgba.equals(whole.session.frame!.rgba)).toBe(true);
        }
      }), { seed: SEED, numRuns: 1500 });
    } finally {
      spy.mockRestore();
    }
  });

  it("reaches a frame in some runs (the generator is not all noise)", () => {
    const outcomes = fc.sample(serverStreamArb, { seed: SEED, numRuns: 400 }).map((s) => runSession([s]).session);
    expect(outcomes.filter((s) => s.frame).length).toBeGreaterThan(5);
    expect(outcomes.filter((s) => s.error).length).toBeGreaterThan(50);
  });
});

// ---- over a real unix socket -----------------------------------------------------------------

let dir: string;
let server: Server;
let script: Buffer[] = [];
const sockets = new Set<Socket>();
beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), "vdi-fuzz-snap-"));
  // Says what the current script says, piece by piece, then stays open and silent.
  server = createServer((socket) => {
    sockets.add(socket);
    socket.on("error", () => undefined);
    socket.on("close", () => sockets.delete(socket));
    socket.resume();
    const pieces = script;
    let i = 0;
    const next = () => {
      if (socket.destroyed || i >= pieces.length) return;
      socket.write(pieces[i++]!);
      setImmediate(next);
    };
    next();
  });
  await new Promise<void>((r) => server.listen(join(dir, "display.sock"), r));
});
afterAll(() => {
  for (const s of sockets) s.destroy();
  server.close();
  rmSync(dir, { recursive: true, force: true });
});

describe("grabFrame, fuzzed", () => {
  it("settles within its timeout with a frame or an RfbSnapshotError, whatever the display sends", async () => {
    const timeoutMs = 150;
    await fc.assert(fc.asyncProperty(streamWithSplits, async ({ pieces }) => {
      script = pieces;
      const t0 = Date.now();
      const outcome = await grabFrame(join(dir, "display.sock"), { timeoutMs }).then((f) => f, (e: unknown) => e);
      expect(Date.now() - t0).toBeLessThan(timeoutMs + 500);
      if (outcome instanceof Error) {
        expect(outcome).toBeInstanceOf(RfbSnapshotError);
        expect(outcome.message).not.toMatch(/internal/);
      } else {
        expect(outcome).toMatchObject({ width: expect.any(Number), height: expect.any(Number) });
      }
    }), { seed: SEED, numRuns: 40 });
  });
});
