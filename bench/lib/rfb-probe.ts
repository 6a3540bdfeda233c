// A minimal RFB 3.8 client for benchmarks: handshake (security None), Raw encoding only,
// and "wait for the first frame that is not blank". Works over a unix socket or a WebSocket.
export interface ByteLink {
  write(b: Buffer): void;
  onData(cb: (b: Buffer) => void): void;
  close(): void;
}

const MAX_RECT_BYTES = 64 * 1024 * 1024;

export interface Frame { width: number; height: number; at: number; pixels: Buffer }

/** Resolves with the first full frame whose pixels are not all the same (Raw, 32-bit XRGB). */
export function firstNonBlankFrame(link: ByteLink, timeoutMs: number): Promise<Frame> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => { link.close(); reject(new Error("no non-blank frame in time")); }, timeoutMs);
    let buf = Buffer.alloc(0);
    let stage = "version";
    let width = 0;
    let height = 0;
    let bpp = 4;
    const need = (n: number) => buf.length >= n;
    const take = (n: number) => { const b = buf.subarray(0, n); buf = buf.subarray(n); return b; };
    const request = (incremental: number) => {
      const m = Buffer.alloc(10);
      m.writeUInt8(3, 0); m.writeUInt8(incremental, 1); m.writeUInt16BE(0, 2); m.writeUInt16BE(0, 4); m.writeUInt16BE(width, 6); m.writeUInt16BE(height, 8);
      link.write(m);
    };
    let rects = 0;
    let nonBlank = false;
    let pixels = Buffer.alloc(0);
    link.onData((d) => {
      buf = Buffer.concat([buf, d]);
      for (;;) {
        if (stage === "version" && need(12)) { take(12); link.write(Buffer.from("RFB 003.008\n")); stage = "sectypes"; continue; }
        if (stage === "sectypes" && need(1) && need(1 + buf[0]!)) { take(1 + buf[0]!); link.write(Buffer.from([1])); stage = "secresult"; continue; }
        if (stage === "secresult" && need(4)) { if (take(4).readUInt32BE(0) !== 0) return reject(new Error("security failed")); link.write(Buffer.from([1])); stage = "init"; continue; }
        if (stage === "init" && need(24) && need(24 + buf.readUInt32BE(20))) {
          const h = take(24 + buf.readUInt32BE(20));
          width = h.readUInt16BE(0); height = h.readUInt16BE(2); bpp = h.readUInt8(4) / 8;
          pixels = Buffer.alloc(width * height * 4);
          const enc = Buffer.alloc(8); enc.writeUInt8(2, 0); enc.writeUInt16BE(1, 2); enc.writeInt32BE(0, 4); // SetEncodings [Raw]
          link.write(enc);
          request(0);
          stage = "msg"; continue;
        }
        if (stage === "msg" && need(4)) {
          if (buf[0] !== 0) { // not a FramebufferUpdate: skip Bell (2) or give up on others
            if (buf[0] === 2) { take(1); continue; }
            return reject(new Error(`unexpected server message ${buf[0]}`));
          }
          rects = take(4).readUInt16BE(2); nonBlank = false; stage = rects ? "rect" : "msg";
          if (!rects) request(1);
          continue;
        }
        if (stage === "rect" && need(12)) {
          const rx = buf.readUInt16BE(0), ry = buf.readUInt16BE(2), w = buf.readUInt16BE(4), hh = buf.readUInt16BE(6), enc = buf.readInt32BE(8);
          if (enc !== 0) return reject(new Error(`unexpected encoding ${enc}`));
          const size = w * hh * bpp;
          if (size > MAX_RECT_BYTES) return reject(new Error("rectangle too large"));
          if (!need(12 + size)) break;
          take(12);
          const px = take(size);
          for (let i = 0; i < px.length && !nonBlank; i += bpp) if (px.readUInt32LE(i) !== px.readUInt32LE(0)) nonBlank = true;
          if (bpp === 4 && rx + w <= width && ry + hh <= height) for (let row = 0; row < hh; row++) px.copy(pixels, ((ry + row) * width + rx) * 4, row * w * 4, (row + 1) * w * 4);
          if (--rects === 0) {
            stage = "msg";
            if (nonBlank) { clearTimeout(timer); link.close(); return resolve({ width, height, at: performance.now(), pixels }); }
            request(1);
          }
          continue;
        }
        break;
      }
    });
  });
}

export interface UpdateCounts {
  /** FramebufferUpdates so far (the first, full one included). */
  updates: number;
  /** Raw payload bytes so far. */
  bytes: number;
  /** Updates that covered every row of the screen. */
  fullFrames: number;
  width: number;
  height: number;
}

/**
 * Handshake (security None), then asks for the next incremental update as soon as one is in (as
 * noVNC does), Raw encoding and DesktopSize, and keeps counting until the link is closed. Bells
 * and cut text are skipped. `ready` settles at ServerInit; `onUpdate` runs after each update
(false: stop asking; the caller closes the link).
 */
export function countUpdates(link: ByteLink, onUpdate: (c: UpdateCounts) => boolean | void = () => undefined, onError: (e: Error) => void = () => undefined): { counts: UpdateCounts; ready: Promise<void> } {
  const counts: UpdateCounts = { updates: 0, bytes: 0, fullFrames: 0, width: 0, height: 0 };
  let ready!: () => void;
  const readyP = new Promise<void>((r) => { ready = r; });
  let buf = Buffer.alloc(0);
  let stage = "version";
  let bpp = 4, rects = 0, rowsThisUpdate = 0;
  let failed = false;
  const need = (n: number) => buf.length >= n;
  const take = (n: number) => { const b = buf.subarray(0, n); buf = buf.subarray(n); return b; };
  const fail = (e: Error) => { failed = true; onError(e); };
  const request = (inc: number) => {
    const m = Buffer.alloc(10);
    m[0] = 3; m[1] = inc; m.writeUInt16BE(counts.width, 6); m.writeUInt16BE(counts.height, 8);
    link.write(m);
  };
  // Big Raw rectangles arrive in many chunks: gather them and join once there is enough.
  let pending: Buffer[] = [];
  let pendingLen = 0;
  let want = 1;
  link.onData((d) => {
    if (failed) return;
    pending.push(d);
    pendingLen += d.length;
    if (buf.length + pendingLen < want) return;
    buf = Buffer.concat([buf, ...pending]);
    pending = [];
    pendingLen = 0;
    want = 1;
    for (;;) {
      if (stage === "version" && need(12)) { take(12); link.write(Buffer.from("RFB 003.008\n")); stage = "sec"; continue; }
      if (stage === "sec" && need(1) && need(1 + buf[0]!)) {
        const types = [...take(1 + buf[0]!).subarray(1)];
        if (!types.includes(1)) return fail(new Error(`the RFB server wants a password (security types ${types.join(", ")})`));
        link.write(Buffer.from([1])); stage = "res"; continue;
      }
      if (stage === "res" && need(4)) { take(4); link.write(Buffer.from([1])); stage = "init"; continue; }
      if (stage === "init" && need(24) && need(24 + buf.readUInt32BE(20))) {
        const h = take(24 + buf.readUInt32BE(20));
        counts.width = h.readUInt16BE(0); counts.height = h.readUInt16BE(2); bpp = h[4]! / 8;
        const enc = Buffer.alloc(12); enc[0] = 2; enc.writeUInt16BE(2, 2); enc.writeInt32BE(0, 4); enc.writeInt32BE(-223, 8);
        link.write(enc);
        request(0);
        stage = "msg"; ready(); continue;
      }
      if (stage === "msg" && need(1)) {
        if (buf[0] === 2) { take(1); continue; }  // Bell
        if (buf[0] === 3) {  // ServerCutText
          if (!need(8)) break;
          const n = buf.readUInt32BE(4);
          if (!need(8 + n)) { want = 8 + n; break; }
          take(8 + n); continue;
        }
        if (buf[0] !== 0) return fail(new Error(`unexpected message ${buf[0]}`));
        if (!need(4)) break;
        rects = take(4).readUInt16BE(2); rowsThisUpdate = 0; stage = rects ? "rect" : "msg"; continue;
      }
      if (stage === "rect" && need(12)) {
        const w = buf.readUInt16BE(4), hh = buf.readUInt16BE(6), enc = buf.readInt32BE(8);
        if (enc === -223) { take(12); counts.width = w; counts.height = hh; } else {
          const size = w * hh * bpp;
          if (!need(12 + size)) { want = 12 + size; break; }
          take(12); take(size); counts.bytes += size; rowsThisUpdate += hh;
        }
        if (--rects === 0) {
          stage = "msg";
          counts.updates++;
          if (rowsThisUpdate >= counts.height) counts.fullFrames++;
          if (onUpdate(counts) === false || failed) { failed = true; return; }  // the caller is done
          request(1);
        }
        continue;
      }
      break;
    }
  });
  return { counts, ready: readyP };
}

/**
 * Counts FramebufferUpdates for `ms` after the first one, requesting the next incremental update
 * as soon as one arrives (Raw encoding). Returns updates per second and payload bytes per second.
 */
export function measureUpdates(link: ByteLink, ms: number): Promise<{ updatesPerSec: number; mbPerSec: number; width: number; height: number; fullFrames: number }> {
  return new Promise((resolve, reject) => {
    let start = 0;
    let done = false;
    countUpdates(link, (c) => {
      if (done) return false;
      if (start === 0) { start = performance.now(); return true; }
      const s = (performance.now() - start) / 1000;
      if (s * 1000 < ms) return true;
      done = true;
      link.close();
      resolve({ updatesPerSec: (c.updates - 1) / s, mbPerSec: c.bytes / s / 1e6, width: c.width, height: c.height, fullFrames: c.fullFrames });
      return false;
    }, reject);
  });
}
