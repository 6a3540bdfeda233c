// The thumbnail grabber against a tiny in-test RFB server: a known pattern arrives in any chunking
// (one byte at a time, random small pieces, one big chunk) and decodes exactly; hostile sizes,
// out-of-bounds rectangles and a silent server are refused. Then the PNG encoder and downscaler.
import { describe, it, expect, beforeAll, afterAll } from "vitest";
import { createServer, type Server, type Socket } from "node:net";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { inflateSync } from "node:zlib";
import { ByteQueue, GRAB_TIMEOUT_MS, RfbSnapshotSession, grabFrame, type RfbFrame } from "../src/rfb/rfb-snapshot.ts";
import { crc32, crc32Table, encodePng } from "../src/thumbnail/png.ts";
import { downscale } from "../src/thumbnail/thumbnail.ts";

// ---- what a server says ----------------------------------------------------------------------

const u16 = (n: number) => { const b = Buffer.alloc(2); b.writeUInt16BE(n); return b; };
const u32 = (n: number) => { const b = Buffer.alloc(4); b.writeUInt32BE(n); return b; };

/** The test pattern: every pixel differs from its neighbours in each channel. */
const colour = (x: number, y: number): [number, number, number] => [(x * 7 + 3) & 255, (y * 13 + 5) & 255, (x * 3 + y * 5) & 255];

function expectedRgba(width: number, height: number): Buffer {
  const out = Buffer.alloc(width * height * 4);
  for (let y = 0; y < height; y++) for (let x = 0; x < width; x++) {
    const [r, g, b] = colour(x, y);
    out.set([r, g, b, 255], (y * width + x) * 4);
  }
  return out;
}

function serverInit(width: number, height: number, name = "test desktop", nameLength = Buffer.byteLength(name)): Buffer {
  // The server's own format (16 bpp big-endian) differs on purpose: the client must ask for its own.
  const pf = Buffer.from([16, 16, 1, 1, 0, 31, 0, 63, 0, 31, 11, 5, 0, 0, 0, 0]);
  return Buffer.concat([u16(width), u16(height), pf, u32(nameLength), Buffer.from(name)]);
}

const handshake = (init: Buffer) => Buffer.concat([Buffer.from("RFB 003.008\n"), Buffer.from([1, 1]), u32(0), init]);

type Rect = { x: number; y: number; w: number; h: number; encoding?: number };

function rawRect(r: Rect): Buffer {
  const head = Buffer.concat([u16(r.x), u16(r.y), u16(r.w), u16(r.h), Buffer.alloc(4)]);
  head.writeInt32BE(r.encoding ?? 0, 8);
  if ((r.encoding ?? 0) !== 0) return head;
  const px = Buffer.alloc(r.w * r.h * 4);
  for (let y = 0; y < r.h; y++) for (let x = 0; x < r.w; x++) {
    const [red, green, blue] = colour(r.x + x, r.y + y);
    px.set([blue, green, red, 0], (y * r.w + x) * 4); // 32 bpp little-endian, red at bit 16
  }
  return Buffer.concat([head, px]);
}

const update = (rects: Rect[]) => Buffer.concat([Buffer.from([0, 0]), u16(rects.length), ...rects.map(rawRect)]);
const bell = Buffer.from([2]);
const cutText = (text: string) => Buffer.concat([Buffer.from([3, 0, 0, 0]), u32(text.length), Buffer.from(text)]);
const colourMap = Buffer.concat([Buffer.from([1, 0]), u16(0), u16(2), Buffer.alloc(12)]);

/** A full frame as four Raw rectangles of uneven sizes. */
function quadrants(width: number, height: number): Rect[] {
  const mx = Math.floor(width / 3), my = Math.floor(height / 2);
  return [
    { x: 0, y: 0, w: mx, h: my }, { x: mx, y: 0, w: width - mx, h: my },
    { x: 0, y: my, w: mx, h: height - my }, { x: mx, y: my, w: width - mx, h: height - my },
  ];
}

// ---- the session, fed directly ---------------------------------------------------------------

function runSession(bytes: Buffer, pieces: (b: Buffer) => Buffer[]): { session: RfbSnapshotSession; sent: Buffer[]; settles: number } {
  const sent: Buffer[] = [];
  let settles = 0;
  const session = new RfbSnapshotSession((b) => sent.push(b), () => settles++);
  for (const p of pieces(bytes)) session.feed(p);
  return { session, sent, settles };
}
const oneChunk = (b: Buffer) => [b];
const byteAtATime = (b: Buffer) => [...b].map((x) => Buffer.from([x]));

describe("RFB snapshot session", () => {
  const W = 37, H = 23;
  const transcript = Buffer.concat([handshake(serverInit(W, H)), colourMap, bell, cutText("clipboard"), update(quadrants(W, H))]);

  for (const [how, pieces] of [["one chunk", oneChunk], ["one byte at a time", byteAtATime]] as const) {
    it(`decodes a frame arriving in ${how}`, () => {
      const { session, sent, settles } = runSession(transcript, pieces);
      expect(session.error).toBeNull();
      expect(settles).toBe(1);
      expect(session.name).toBe("test desktop");
      expect(session.frame!.width).toBe(W);
      expect(session.frame!.height).toBe(H);
      expect(session.frame!.rgba.equals(expectedRgba(W, H))).toBe(true);
      // What the client said: version, security None, ClientInit shared, formats and encodings, one request.
      const all = Buffer.concat(sent);
      expect(all.subarray(0, 14)).toEqual(Buffer.concat([Buffer.from("RFB 003.008\n"), Buffer.from([1, 1])]));
      const setPixelFormat = all.subarray(14, 34);
      expect([...setPixelFormat.subarray(0, 4)]).toEqual([0, 0, 0, 0]);
      expect([...setPixelFormat.subarray(4, 8)]).toEqual([32, 24, 0, 1]);
      expect([setPixelFormat.readUInt16BE(8), setPixelFormat.readUInt16BE(10), setPixelFormat.readUInt16BE(12)]).toEqual([255, 255, 255]);
      expect([...setPixelFormat.subarray(14, 17)]).toEqual([16, 8, 0]);
      const setEncodings = all.subarray(34, 46);
      expect([setEncodings[0], setEncodings.readUInt16BE(2), setEncodings.readInt32BE(4), setEncodings.readInt32BE(8)]).toEqual([2, 2, 0, -223]);
      expect([...all.subarray(46)]).toEqual([3, 0, 0, 0, 0, 0, 0, W, 0, H]);
    });
  }

  it("asks again after a partial update, and takes the frame once every pixel arrived", () => {
    const top = { x: 0, y: 0, w: W, h: 10 }, bottom = { x: 0, y: 10, w: W, h: H - 10 };
    const { session, sent } = runSession(Buffer.concat([handshake(serverInit(W, H)), update([top]), update([]), update([bottom])]), byteAtATime);
    expect(session.error).toBeNull();
    expect(session.frame!.rgba.equals(expectedRgba(W, H))).toBe(true);
    expect(sent.filter((b) => b[0] === 3)).toHaveLength(3);
  });

  it("follows a DesktopSize change and keeps only the frame of the new size", () => {
    const resized = update([{ x: 0, y: 0, w: 20, h: 11, encoding: -223 }, ...quadrants(20, 11)]);
    const { session } = runSession(Buffer.concat([handshake(serverInit(8, 8)), resized]), oneChunk);
    expect(session.error).toBeNull();
    expect([session.frame!.width, session.frame!.height]).toEqual([20, 11]);
    expect(session.frame!.rgba.equals(expectedRgba(20, 11))).toBe(true);
  });

  const refusals: [string, Buffer, RegExp][] = [
    ["a width over 8192", handshake(serverInit(8193, 10)), /framebuffer size 8193x10 is outside 1\.\.8192/],
    ["a height over 8192", handshake(serverInit(10, 9000)), /outside 1\.\.8192/],
    ["a zero size", handshake(serverInit(0, 10)), /framebuffer size 0x10/],
    ["a DesktopSize over 8192", Buffer.concat([handshake(serverInit(8, 8)), update([{ x: 0, y: 0, w: 10_000, h: 8, encoding: -223 }])]), /outside 1\.\.8192/],
    ["a rectangle past the right edge", Buffer.concat([handshake(serverInit(W, H)), update([{ x: 30, y: 0, w: 8, h: 2 }])]), /rectangle 8x2\+30\+0 lies outside the 37x23 framebuffer/],
    ["a rectangle past the bottom", Buffer.concat([handshake(serverInit(W, H)), update([{ x: 0, y: 20, w: 1, h: 4 }])]), /lies outside/],
    ["a desktop name over 1 KiB", handshake(serverInit(W, H, "x", 2048)), /desktop name of 2048 bytes is too long/],
    ["an encoding we did not ask for", Buffer.concat([handshake(serverInit(W, H)), update([{ x: 0, y: 0, w: 1, h: 1, encoding: 7 }])]), /unexpected encoding 7/],
    ["an unknown message", Buffer.concat([handshake(serverInit(W, H)), Buffer.from([99])]), /unexpected server message type 99/],
    ["huge clipboard text", Buffer.concat([handshake(serverInit(W, H)), Buffer.from([3, 0, 0, 0]), u32(50_000_000)]), /clipboard text of 50000000 bytes/],
    ["an old protocol", Buffer.from("RFB 003.003\n"), /server speaks RFB 3\.3; 3\.8 is needed/],
    ["something else entirely", Buffer.from("HTTP/1.1 200\n"), /not an RFB server/],
    ["a display that needs a password", Buffer.concat([Buffer.from("RFB 003.008\n"), Buffer.from([1, 2])]), /requires authentication \(security types 2\)/],
    ["a refused connection", Buffer.concat([Buffer.from("RFB 003.008\n"), Buffer.from([0]), u32(4), Buffer.from("busy")]), /server refused the connection: busy/],
  ];
  for (const [what, bytes, reason] of refusals) {
    it(`refuses ${what}`, () => {
      for (const pieces of [oneChunk, byteAtATime]) {
        const { session, settles } = runSession(bytes, pieces);
        expect(session.frame).toBeNull();
        expect(session.error).toMatch(reason);
        expect(settles).toBe(1);
      }
    });
  }
});

describe("ByteQueue", () => {
  it("reads across chunk boundaries, in any split", () => {
    const q = new ByteQueue();
    for (const c of [[1, 2], [], [3], [4, 5, 6, 7], [8]]) q.push(Buffer.from(c));
    expect(q.length).toBe(8);
    expect([...q.peek(3)]).toEqual([1, 2, 3]);
    expect([...q.take(4)]).toEqual([1, 2, 3, 4]);
    expect(q.skip(2)).toBe(2);
    expect([...q.take(2)]).toEqual([7, 8]);
    expect(q.skip(5)).toBe(0);
    expect(() => q.take(1)).toThrow(RangeError);
  });
});

// ---- over a real unix socket -----------------------------------------------------------------

let dir: string;
const servers: Server[] = [];
beforeAll(() => { dir = mkdtempSync(join(tmpdir(), "vdi-thumb-")); });
afterAll(() => {
  for (const s of servers) s.close();
  rmSync(dir, { recursive: true, force: true });
});

/** A display that answers the client's messages in order, writing each reply in random small pieces. */
async function fakeDisplay(name: string, opts: { silent?: boolean; maxPiece?: number; init: Buffer; frames: Buffer }): Promise<string> {
  const path = join(dir, `${name}.sock`);
  const server = createServer((socket: Socket) => {
    if (opts.silent) return;
    let got = 0;
    let step = 0;
    // Client bytes we wait for before each reply: version (12), security (1), ClientInit (1), formats + request (42).
    const replies: [number, Buffer][] = [[0, Buffer.from("RFB 003.008\n")], [12, Buffer.from([1, 1])], [13, u32(0)], [14, opts.init], [56, opts.frames]];
    let writing = Promise.resolve();
    const pump = () => {
      while (step < replies.length && got >= replies[step]![0]) {
        const bytes = replies[step++]![1];
        writing = writing.then(() => writeInPieces(socket, bytes, opts.maxPiece ?? 7));
      }
    };
    socket.on("data", (d) => { got += d.length; pump(); });
    socket.on("error", () => undefined);
    pump();
  });
  servers.push(server);
  await new Promise<void>((r) => server.listen(path, r));
  return path;
}

async function writeInPieces(socket: Socket, bytes: Buffer, maxPiece: number): Promise<void> {
  for (let i = 0; i < bytes.length && !socket.destroyed;) {
    const n = 1 + Math.floor(Math.random() * maxPiece);
    socket.write(bytes.subarray(i, i + n));
    i += n;
    await new Promise((r) => setImmediate(r));
  }
}

describe("grabFrame over a unix socket", () => {
  it("grabs a frame sent in random small pieces", async () => {
    const W = 64, H = 40;
    const path = await fakeDisplay("pieces", { init: serverInit(W, H), frames: Buffer.concat([bell, update(quadrants(W, H))]) });
    const frame: RfbFrame = await grabFrame(path);
    expect([frame.width, frame.height]).toEqual([W, H]);
    expect(frame.rgba.equals(expectedRgba(W, H))).toBe(true);
  });

  it("grabs a frame sent one byte at a time", async () => {
    const path = await fakeDisplay("bytes", { init: serverInit(16, 9), frames: update(quadrants(16, 9)), maxPiece: 1 });
    expect((await grabFrame(path)).rgba.equals(expectedRgba(16, 9))).toBe(true);
  });

  it("refuses an out-of-bounds rectangle and closes the connection", async () => {
    const path = await fakeDisplay("oob", { init: serverInit(16, 9), frames: update([{ x: 10, y: 5, w: 7, h: 4 }]) });
    await expect(grabFrame(path)).rejects.toThrow(/RFB snapshot: rectangle 7x4\+10\+5 lies outside the 16x9 framebuffer/);
  });

  it("refuses an oversize framebuffer before allocating it", async () => {
    const path = await fakeDisplay("huge", { init: serverInit(65535, 65535), frames: Buffer.alloc(0) });
    await expect(grabFrame(path)).rejects.toThrow(/framebuffer size 65535x65535 is outside 1\.\.8192/);
  });

  it("times out on a display that never answers", async () => {
    expect(GRAB_TIMEOUT_MS).toBe(3_000);
    const path = await fakeDisplay("silent", { silent: true, init: Buffer.alloc(0), frames: Buffer.alloc(0) });
    const t0 = Date.now();
    await expect(grabFrame(path, { timeoutMs: 300 })).rejects.toThrow(/no full frame within 300 ms/);
    expect(Date.now() - t0).toBeGreaterThanOrEqual(290);
  });

  it("fails at once when there is no display socket", async () => {
    await expect(grabFrame(join(dir, "missing.sock"))).rejects.toThrow(/display unavailable/);
  });
});

// ---- PNG and downscaling ---------------------------------------------------------------------

/** A strict little PNG reader for what encodePng writes: checks every CRC, inflates, undoes filter 0. */
function decodePng(png: Buffer): { width: number; height: number; rgb: Buffer } {
  expect([...png.subarray(0, 8)]).toEqual([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);
  let off = 8;
  let width = 0, height = 0;
  const idat: Buffer[] = [];
  const types: string[] = [];
  while (off < png.length) {
    const len = png.readUInt32BE(off);
    const type = png.subarray(off + 4, off + 8).toString("latin1");
    const data = png.subarray(off + 8, off + 8 + len);
    expect(png.readUInt32BE(off + 8 + len)).toBe(crc32Table(png.subarray(off + 4, off + 8 + len)));
    types.push(type);
    if (type === "IHDR") {
      width = data.readUInt32BE(0);
      height = data.readUInt32BE(4);
      expect([...data.subarray(8)]).toEqual([8, 2, 0, 0, 0]);
    }
    if (type === "IDAT") idat.push(data);
    off += 12 + len;
  }
  expect(types).toEqual(["IHDR", "IDAT", "IEND"]);
  const raw = inflateSync(Buffer.concat(idat));
  const stride = width * 3 + 1;
  expect(raw.length).toBe(stride * height);
  const rgb = Buffer.alloc(width * height * 3);
  for (let y = 0; y < height; y++) {
    expect(raw[y * stride]).toBe(0);
    raw.copy(rgb, y * width * 3, y * stride + 1, (y + 1) * stride);
  }
  return { width, height, rgb };
}

const rgbOf = (rgba: Buffer) => Buffer.from(rgba.filter((_, i) => i % 4 !== 3));

describe("PNG encoding", () => {
  it("computes CRC-32 as PNG needs it, natively and by table", () => {
    expect(crc32Table(Buffer.from("123456789"))).toBe(0xcbf43926);
    expect(crc32(Buffer.from("123456789"))).toBe(0xcbf43926);
    const random = Buffer.from(Array.from({ length: 1000 }, (_, i) => (i * 7919) & 255));
    expect(crc32(random)).toBe(crc32Table(random));
  });

  it("round-trips the pattern exactly", () => {
    const rgba = expectedRgba(37, 23);
    const png = decodePng(encodePng(37, 23, rgba));
    expect([png.width, png.height]).toEqual([37, 23]);
    expect(png.rgb.equals(rgbOf(rgba))).toBe(true);
  });

  it("refuses pixels that do not match the size", () => {
    expect(() => encodePng(2, 2, Buffer.alloc(15))).toThrow(/expected 16 bytes/);
  });
});

describe("downscale", () => {
  it("leaves a small frame alone", () => {
    const f = { width: 300, height: 10, rgba: expectedRgba(300, 10) };
    expect(downscale(f)).toBe(f);
  });

  it("shrinks to 320 wide keeping the aspect, averaging each source box", () => {
    // 1280x720 → 4x4 source boxes whose pixels vary inside, so each average is known.
    const w = 1280, h = 720;
    const rgba = Buffer.alloc(w * h * 4);
    for (let y = 0; y < h; y++) for (let x = 0; x < w; x++) {
      const v = (x % 4) * 20 + (y % 4) * 4;     // box average: 30 + 6 = 36
      rgba.set([v, x < w / 2 ? 200 : 10, 255 - v, 255], (y * w + x) * 4);
    }
    const small = downscale({ width: w, height: h, rgba });
    expect([small.width, small.height]).toEqual([320, 180]);
    for (const [x, y] of [[0, 0], [159, 90], [160, 0], [319, 179]] as const) {
      const i = (y * 320 + x) * 4;
      expect([...small.rgba.subarray(i, i + 4)]).toEqual([36, x < 160 ? 200 : 10, 255 - 36, 255]);
    }
  });

  it("handles sizes that do not divide evenly", () => {
    const small = downscale({ width: 1000, height: 701, rgba: Buffer.alloc(1000 * 701 * 4, 128) });
    expect([small.width, small.height]).toEqual([320, 224]);
    expect(small.rgba.every((v, i) => v === (i % 4 === 3 ? 255 : 128))).toBe(true);
  });
});
