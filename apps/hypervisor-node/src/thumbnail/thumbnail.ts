// Console thumbnails: a small PNG of a VM's screen, grabbed over RFB at most once per VM every
// few seconds however many viewers ask, and only a couple of grabs at a time per node.
import { grabFrame, type RfbFrame } from "../rfb/rfb-snapshot.ts";
import { encodePng } from "./png.ts";

export const THUMBNAIL_MAX_WIDTH = 320;
export const THUMBNAIL_CACHE_MS = 3_000;
export const MAX_GRABS_IN_FLIGHT = 2;
/** Requests beyond this many waiting for a grab slot are refused rather than queued. */
export const MAX_GRABS_WAITING = 32;

export interface Thumbnail {
  png: Buffer;
  width: number;
  height: number;
  /** When the frame was grabbed (ms since the epoch). */
  at: number;
}

export class ThumbnailBusyError extends Error {
  constructor() {
    super("too many thumbnails are being grabbed; try again shortly");
    this.name = "ThumbnailBusyError";
  }
}

/** Shrinks to at most `maxWidth` pixels wide, keeping the aspect, each pixel the average of its source box. */
export function downscale(frame: RfbFrame, maxWidth = THUMBNAIL_MAX_WIDTH): RfbFrame {
  const { width: sw, height: sh, rgba: src } = frame;
  if (sw <= maxWidth) return frame;
  const dw = maxWidth;
  const dh = Math.max(1, Math.round((sh * dw) / sw));
  const xs = Array.from({ length: dw + 1 }, (_, i) => Math.floor((i * sw) / dw));
  const ys = Array.from({ length: dh + 1 }, (_, i) => Math.floor((i * sh) / dh));
  const out = Buffer.alloc(dw * dh * 4);
  for (let oy = 0; oy < dh; oy++) {
    const y0 = ys[oy]!;
    const y1 = Math.max(ys[oy + 1]!, y0 + 1);
    for (let ox = 0; ox < dw; ox++) {
      const x0 = xs[ox]!;
      const x1 = Math.max(xs[ox + 1]!, x0 + 1);
      let r = 0, g = 0, b = 0;
      for (let y = y0; y < y1; y++) {
        for (let i = (y * sw + x0) * 4, end = (y * sw + x1) * 4; i < end; i += 4) {
          r += src[i]!;
          g += src[i + 1]!;
          b += src[i + 2]!;
        }
      }
      const n = (x1 - x0) * (y1 - y0);
      const d = (oy * dw + ox) * 4;
      out[d] = Math.round(r / n);
      out[d + 1] = Math.round(g / n);
      out[d + 2] = Math.round(b / n);
      out[d + 3] = 255;
    }
  }
  return { width: dw, height: dh, rgba: out };
}

export interface ThumbnailCacheOptions {
  /** The VM's RFB socket while it runs here, else null. */
  displayOf: (vmId: string) => string | null;
  grab?: (socketPath: string) => Promise<RfbFrame>;
  ttlMs?: number;
  maxInFlight?: number;
  maxWaiting?: number;
  now?: () => number;
}

export function createThumbnailCache(opts: ThumbnailCacheOptions) {
  const grab = opts.grab ?? ((path: string) => grabFrame(path));
  const ttlMs = opts.ttlMs ?? THUMBNAIL_CACHE_MS;
  const maxInFlight = opts.maxInFlight ?? MAX_GRABS_IN_FLIGHT;
  const maxWaiting = opts.maxWaiting ?? MAX_GRABS_WAITING;
  const now = opts.now ?? Date.now;

  // A pending entry is shared by everyone who asks while it runs; a settled one until it is ttlMs old.
  const entries = new Map<string, { socketPath: string; promise: Promise<Thumbnail>; settledAt: number | null }>();
  let inFlight = 0;
  const waiting: (() => void)[] = [];

  async function withSlot<T>(fn: () => Promise<T>): Promise<T> {
    if (inFlight < maxInFlight) inFlight++;
    else if (waiting.length >= maxWaiting) throw new ThumbnailBusyError();
    else await new Promise<void>((resolve) => waiting.push(resolve));  // the finisher hands its slot over
    try {
      return await fn();
    } finally {
      const next = waiting.shift();
      if (next) next();
      else inFlight--;
    }
  }

  async function render(socketPath: string): Promise<Thumbnail> {
    const at = now();
    const small = downscale(await grab(socketPath));
    return { png: encodePng(small.width, small.height, small.rgba), width: small.width, height: small.height, at };
  }

  return {
    /** The VM's thumbnail, or null when it has no display on this node (not running here). */
    get(vmId: string): Promise<Thumbnail | null> {
      const t = now();
      for (const [id, e] of entries) if (e.settledAt !== null && t - e.settledAt >= ttlMs) entries.delete(id);
      const socketPath = opts.displayOf(vmId);
      if (!socketPath) {
        entries.delete(vmId);
        return Promise.resolve(null);
      }
      const cached = entries.get(vmId);
      if (cached && cached.socketPath === socketPath) return cached.promise;
      const entry = { socketPath, promise: withSlot(() => render(socketPath)), settledAt: null as number | null };
      entries.set(vmId, entry);
      entry.promise.then(
        () => { entry.settledAt = now(); },
        () => { if (entries.get(vmId) === entry) entries.delete(vmId); },  // failures are not cached
      );
      return entry.promise;
    },
    inFlight: () => inFlight,
    size: () => entries.size,
  };
}
