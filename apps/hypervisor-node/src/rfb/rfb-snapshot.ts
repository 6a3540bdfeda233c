// Grabs one full frame from a VM's RFB server on its unix socket (RFC 6143, version 3.8,
// security None, Raw encoding): the source of console thumbnails for every engine.
import { connect } from "node:net";
import {
  BYTES_PER_PIXEL, CLIENT_MESSAGE, COLOUR_MAP_HEADER_LENGTH, CUT_TEXT_HEADER_LENGTH, ENCODING, PROTOCOL_VERSION,
  PROTOCOL_VERSION_LENGTH, RECT_HEADER_LENGTH, SECURITY_RESULT_OK, SECURITY_TYPE, SERVER_INIT_HEADER_LENGTH,
  SERVER_MESSAGE, UPDATE_HEADER_LENGTH, pixelFormat32,
} from "./rfb-constants.ts";

/** The display is guest-driven: every size it sends is checked against one of these. */
export const MAX_DIMENSION = 8192;
/** Width × height at most (5120 × 3200 fits): the frame costs 5 bytes a pixel while it is grabbed. */
export const MAX_PIXELS = 16 * 1024 * 1024;
export const MAX_NAME_LENGTH = 1024;
export const MAX_REASON_LENGTH = 1024;
export const MAX_CUT_TEXT_LENGTH = 1024 * 1024;
export const GRAB_TIMEOUT_MS = 3_000;

export interface RfbFrame {
  width: number;
  height: number;
  /** width × height pixels, 4 bytes each: red, green, blue, alpha (always 255). */
  rgba: Buffer;
}

/** Why a grab failed: the only error grabFrame rejects with, whatever the display sends. */
export class RfbSnapshotError extends Error {
  constructor(readonly reason: string) {
    super(`RFB snapshot: ${reason}`);
    this.name = "RfbSnapshotError";
  }
}

/** Bytes as they arrive, in any chunking; readers wait until `length` covers what they need. */
export class ByteQueue {
  private chunks: Buffer[] = [];
  private head = 0;
  length = 0;

  push(chunk: Buffer): void {
    if (chunk.length === 0) return;
    this.chunks.push(chunk);
    this.length += chunk.length;
  }

  /** The first `n` bytes (n ≤ length), left in the queue. */
  peek(n: number): Buffer {
    return this.copy(n, false);
  }

  /** Removes and returns the first `n` bytes (n ≤ length). */
  take(n: number): Buffer {
    return this.copy(n, true);
  }

  /** Drops up to `n` bytes; returns how many were dropped. */
  skip(n: number): number {
    const k = Math.min(n, this.length);
    let left = k;
    while (left > 0) {
      const first = this.chunks[0]!;
      const step = Math.min(first.length - this.head, left);
      left -= step;
      this.head += step;
      if (this.head === first.length) {
        this.chunks.shift();
        this.head = 0;
      }
    }
    this.length -= k;
    return k;
  }

  private copy(n: number, consume: boolean): Buffer {
    if (n > this.length) throw new RangeError(`need ${n} bytes, have ${this.length}`);
    const out = Buffer.allocUnsafe(n);
    let off = 0;
    let index = 0;
    let pos = this.head;
    while (off < n) {
      const chunk = this.chunks[index]!;
      const step = Math.min(chunk.length - pos, n - off);
      chunk.copy(out, off, pos, pos + step);
      off += step;
      pos += step;
      if (pos === chunk.length) {
        index++;
        pos = 0;
      }
    }
    if (consume) {
      this.chunks.splice(0, index);
      this.head = pos;
      this.length -= n;
    }
    return out;
  }
}

type State =
  | "version" | "securityTypes" | "securityResult" | "serverInit"
  | "message" | "rectHeader" | "rectPixels" | "skip" | "done" | "failed";

/** Every allowed step; anything else is a bug and fails the grab. "failed" is reachable from anywhere. */
const TRANSITIONS: Record<State, readonly State[]> = {
  version: ["securityTypes"],
  securityTypes: ["securityResult"],
  securityResult: ["serverInit"],
  serverInit: ["message"],
  message: ["message", "rectHeader", "skip", "done"],
  rectHeader: ["rectHeader", "rectPixels", "message", "done"],
  rectPixels: ["rectHeader", "message", "done"],
  skip: ["message"],
  done: [],
  failed: [],
};

/**
 * One snapshot conversation, independent of the transport: `feed` it the server's bytes in any
 * chunking; it writes its replies through `write` and settles once with a frame or a reason.
 */
export class RfbSnapshotSession {
  private readonly queue = new ByteQueue();
  private state: State = "version";
  private width = 0;
  private height = 0;
  private rgba = Buffer.alloc(0);
  /** Which pixels some rectangle has painted since the last resize. */
  private painted = new Uint8Array(0);
  private paintedCount = 0;
  private rectsLeft = 0;
  private rect = { x: 0, y: 0, w: 0, h: 0, done: 0 };
  private skipLeft = 0;
  frame: RfbFrame | null = null;
  error: string | null = null;
  name = "";

  constructor(private readonly write: (bytes: Buffer) => void, private readonly onSettle: () => void = () => undefined) {}

  get settled(): boolean {
    return this.state === "done" || this.state === "failed";
  }

  feed(chunk: Buffer): void {
    if (this.settled) return;
    this.queue.push(chunk);
    try {
      while (!this.settled && this.step()) { /* parse as far as the bytes go */ }
    } catch (err) {
      // A parser bug must fail this grab, never the agent (feed runs in a socket's data handler).
      this.fail(`internal: ${(err as Error).message}`);
    }
  }

  fail(reason: string): void {
    if (this.settled) return;
    this.state = "failed";
    this.error = reason;
    this.onSettle();
  }

  private to(next: State): void {
    if (!TRANSITIONS[this.state].includes(next)) return this.fail(`internal: no transition ${this.state} → ${next}`);
    this.state = next;
    if (next === "done") this.onSettle();
  }

  /** Runs the parser of the current state; false when it needs more bytes. */
  private step(): boolean {
    switch (this.state) {
      case "version": return this.readVersion();
      case "securityTypes": return this.readSecurityTypes();
      case "securityResult": return this.readSecurityResult();
      case "serverInit": return this.readServerInit();
      case "message": return this.readMessage();
      case "rectHeader": return this.readRectHeader();
      case "rectPixels": return this.readRectPixels();
      case "skip": return this.readSkip();
      default: return false;
    }
  }

  // §7.1.1
  private readVersion(): boolean {
    if (this.queue.length < PROTOCOL_VERSION_LENGTH) return false;
    const m = /^RFB (\d{3})\.(\d{3})\n$/.exec(this.queue.take(PROTOCOL_VERSION_LENGTH).toString("latin1"));
    if (!m) return this.failed("not an RFB server");
    if (Number(m[1]) !== 3 || Number(m[2]) < 8) return this.failed(`server speaks RFB ${Number(m[1])}.${Number(m[2])}; 3.8 is needed`);
    this.write(Buffer.from(PROTOCOL_VERSION, "latin1"));
    this.to("securityTypes");
    return true;
  }

  // §7.1.2
  private readSecurityTypes(): boolean {
    if (this.queue.length < 1) return false;
    const count = this.queue.peek(1)[0]!;
    if (count === 0) {
      const reason = this.readReason(1);
      return reason === null ? false : this.failed(`server refused the connection: ${reason}`);
    }
    if (this.queue.length < 1 + count) return false;
    const types = [...this.queue.take(1 + count).subarray(1)];
    if (!types.includes(SECURITY_TYPE.None)) return this.failed(`display requires authentication (security types ${types.join(",")})`);
    this.write(Buffer.from([SECURITY_TYPE.None]));
    this.to("securityResult");
    return true;
  }

  // §7.1.3
  private readSecurityResult(): boolean {
    if (this.queue.length < 4) return false;
    if (this.queue.peek(4).readUInt32BE(0) !== SECURITY_RESULT_OK) {
      const reason = this.readReason(4);
      return reason === null ? false : this.failed(`security handshake failed: ${reason}`);
    }
    this.queue.take(4);
    this.write(Buffer.from([1])); // §7.3.1 ClientInit, shared-flag = 1: never disconnect other viewers
    this.to("serverInit");
    return true;
  }

  /** A u32 length and text at `offset`; null while incomplete (a reason too long fails the grab). */
  private readReason(offset: number): string | null {
    if (this.queue.length < offset + 4) return null;
    const length = this.queue.peek(offset + 4).readUInt32BE(offset);
    if (length > MAX_REASON_LENGTH) {
      this.fail(`reason of ${length} bytes is too long`);
      return "";
    }
    if (this.queue.length < offset + 4 + length) return null;
    return this.queue.take(offset + 4 + length).subarray(offset + 4).toString("utf8");
  }

  // §7.3.2
  private readServerInit(): boolean {
    if (this.queue.length < SERVER_INIT_HEADER_LENGTH) return false;
    const nameLength = this.queue.peek(SERVER_INIT_HEADER_LENGTH).readUInt32BE(20);
    if (nameLength > MAX_NAME_LENGTH) return this.failed(`desktop name of ${nameLength} bytes is too long`);
    if (this.queue.length < SERVER_INIT_HEADER_LENGTH + nameLength) return false;
    const init = this.queue.take(SERVER_INIT_HEADER_LENGTH + nameLength);
    this.name = init.subarray(SERVER_INIT_HEADER_LENGTH).toString("utf8");
    if (!this.resize(init.readUInt16BE(0), init.readUInt16BE(2))) return true;
    const setPixelFormat = Buffer.alloc(20);
    setPixelFormat[0] = CLIENT_MESSAGE.SetPixelFormat;
    pixelFormat32().copy(setPixelFormat, 4);
    const setEncodings = Buffer.alloc(12);
    setEncodings[0] = CLIENT_MESSAGE.SetEncodings;
    setEncodings.writeUInt16BE(2, 2);
    setEncodings.writeInt32BE(ENCODING.Raw, 4);
    setEncodings.writeInt32BE(ENCODING.DesktopSize, 8);
    this.write(Buffer.concat([setPixelFormat, setEncodings]));
    this.requestFullFrame();
    this.to("message");
    return true;
  }

  // §7.6
  private readMessage(): boolean {
    if (this.queue.length < 1) return false;
    const type = this.queue.peek(1)[0]!;
    switch (type) {
      case SERVER_MESSAGE.FramebufferUpdate: {
        if (this.queue.length < UPDATE_HEADER_LENGTH) return false;
        this.rectsLeft = this.queue.take(UPDATE_HEADER_LENGTH).readUInt16BE(2);
        if (this.rectsLeft === 0) this.endOfUpdate();
        else this.to("rectHeader");
        return true;
      }
      case SERVER_MESSAGE.SetColourMapEntries: {
        if (this.queue.length < COLOUR_MAP_HEADER_LENGTH) return false;
        this.skipThen(this.queue.take(COLOUR_MAP_HEADER_LENGTH).readUInt16BE(4) * 6);
        return true;
      }
      case SERVER_MESSAGE.Bell:
        this.queue.take(1);
        this.to("message");
        return true;
      case SERVER_MESSAGE.ServerCutText: {
        if (this.queue.length < CUT_TEXT_HEADER_LENGTH) return false;
        const length = this.queue.peek(CUT_TEXT_HEADER_LENGTH).readUInt32BE(4);
        if (length > MAX_CUT_TEXT_LENGTH) return this.failed(`clipboard text of ${length} bytes is too long`);
        this.queue.take(CUT_TEXT_HEADER_LENGTH);
        this.skipThen(length);
        return true;
      }
      default:
        return this.failed(`unexpected server message type ${type}`);
    }
  }

  private skipThen(bytes: number): void {
    this.skipLeft = bytes;
    this.to(bytes > 0 ? "skip" : "message");
  }

  private readSkip(): boolean {
    const dropped = this.queue.skip(this.skipLeft);
    this.skipLeft -= dropped;
    if (this.skipLeft === 0) this.to("message");
    return dropped > 0;
  }

  // §7.6.1 rectangles: Raw pixels, or the DesktopSize pseudo-rectangle (§7.8.2)
  private readRectHeader(): boolean {
    if (this.queue.length < RECT_HEADER_LENGTH) return false;
    const h = this.queue.take(RECT_HEADER_LENGTH);
    const rect = { x: h.readUInt16BE(0), y: h.readUInt16BE(2), w: h.readUInt16BE(4), h: h.readUInt16BE(6), done: 0 };
    const encoding = h.readInt32BE(8);
    if (encoding === ENCODING.DesktopSize) {
      if (this.resize(rect.w, rect.h)) this.nextRect();
      return true;
    }
    if (encoding !== ENCODING.Raw) return this.failed(`unexpected encoding ${encoding}`);
    if (rect.x + rect.w > this.width || rect.y + rect.h > this.height) {
      return this.failed(`rectangle ${rect.w}x${rect.h}+${rect.x}+${rect.y} lies outside the ${this.width}x${this.height} framebuffer`);
    }
    this.rect = rect;
    if (rect.w * rect.h === 0) this.nextRect();
    else this.to("rectPixels");
    return true;
  }

  /** Copies whole pixels as they arrive, so a big rectangle never has to sit in the queue at once. */
  private readRectPixels(): boolean {
    const r = this.rect;
    const n = Math.min(Math.floor(this.queue.length / BYTES_PER_PIXEL), r.w * r.h - r.done);
    if (n === 0) return false;
    const src = this.queue.take(n * BYTES_PER_PIXEL);
    const { rgba, painted, width } = this;
    for (let i = 0, p = r.done; i < src.length; i += BYTES_PER_PIXEL, p++) {
      const row = Math.floor(p / r.w);
      const k = (r.y + row) * width + r.x + (p - row * r.w);
      const d = k * 4;
      // Our pixel format is little-endian with red at bit 16: B, G, R, X in memory.
      rgba[d] = src[i + 2]!;
      rgba[d + 1] = src[i + 1]!;
      rgba[d + 2] = src[i]!;
      rgba[d + 3] = 255;
      if (painted[k] === 0) {
        painted[k] = 1;
        this.paintedCount++;
      }
    }
    r.done += n;
    if (r.done === r.w * r.h) this.nextRect();
    return true;
  }

  private nextRect(): void {
    if (--this.rectsLeft === 0) this.endOfUpdate();
    else this.to("rectHeader");
  }

  /** Done once every pixel has been painted; otherwise (a partial update, a resize) ask again. */
  private endOfUpdate(): void {
    if (this.paintedCount === this.width * this.height) {
      this.frame = { width: this.width, height: this.height, rgba: this.rgba };
      this.to("done");
      return;
    }
    this.requestFullFrame();
    this.to("message");
  }

  private resize(width: number, height: number): boolean {
    if (width === 0 || height === 0 || width > MAX_DIMENSION || height > MAX_DIMENSION) {
      this.fail(`framebuffer size ${width}x${height} is outside 1..${MAX_DIMENSION}`);
      return false;
    }
    if (width * height > MAX_PIXELS) {
      this.fail(`framebuffer size ${width}x${height} is more than ${MAX_PIXELS} pixels`);
      return false;
    }
    this.width = width;
    this.height = height;
    this.rgba = Buffer.alloc(width * height * 4);
    this.painted = new Uint8Array(width * height);
    this.paintedCount = 0;
    return true;
  }

  // §7.5.3, non-incremental: the server sends the whole area
  private requestFullFrame(): void {
    const m = Buffer.alloc(10);
    m[0] = CLIENT_MESSAGE.FramebufferUpdateRequest;
    m[1] = 0;
    m.writeUInt16BE(this.width, 6);
    m.writeUInt16BE(this.height, 8);
    this.write(m);
  }

  /** fail() for parsers: returns true, since failing is progress (the loop stops on settled). */
  private failed(reason: string): boolean {
    this.fail(reason);
    return true;
  }
}

/** Connects to the RFB server at `socketPath` and resolves with one full frame, or rejects with a reason. */
export function grabFrame(socketPath: string, opts: { timeoutMs?: number } = {}): Promise<RfbFrame> {
  const timeoutMs = opts.timeoutMs ?? GRAB_TIMEOUT_MS;
  return new Promise((resolve, reject) => {
    const socket = connect(socketPath);
    const session: RfbSnapshotSession = new RfbSnapshotSession(
      (bytes) => socket.write(bytes),
      () => {
        clearTimeout(timer);
        socket.destroy();
        if (session.frame) resolve(session.frame);
        else reject(new RfbSnapshotError(session.error ?? "unknown"));
      },
    );
    const timer = setTimeout(() => session.fail(`no full frame within ${timeoutMs} ms`), timeoutMs);
    socket.on("data", (chunk: Buffer) => session.feed(chunk));
    socket.on("error", (err) => session.fail(`display unavailable (${err.message})`));
    socket.on("close", () => session.fail("display closed the connection"));
  });
}
