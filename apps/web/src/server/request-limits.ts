// Bounds what one request to the tRPC endpoint, and one caller, may cost. Without them a single GET
// naming vm.list 1,900 times ran 1,900 procedures (25 s, 15 MB), and three in parallel took the
// portal from 267 MB to 1.25 GB. Reasons and figures: docs/auth.md ("Request limits").
import { createHash } from "node:crypto";
import { jsonNestsDeeperThan, NESTED_TOO_DEEPLY } from "@vdi/api/input-shape";

/** The portal's pages batch at most this many calls (lib/trpc.tsx sets the same on its link). */
export const MAX_BATCH_PROCEDURES = 10;
/** Ten procedures with their inputs fit in a few KiB; the client splits batches at 4,000. */
export const MAX_TRPC_URL_CHARS = 8192;

function refusal(status: number, code: string, message: string, headers?: Record<string, string>): Response {
  return Response.json({ error: { message, code: status === 429 ? -32029 : -32600, data: { code, httpStatus: status } } }, { status, ...(headers ? { headers } : {}) });
}

/** A refusal for a request that names too much, before any procedure, body or context is touched; null to go on. */
export function trpcRequestRefusal(req: Request): Response | null {
  const url = new URL(req.url);
  // Counted on the path as tRPC reads it (decoded: "%2C" is a comma too).
  const named = safeDecode(url.pathname.replace(/^.*?\/api\/trpc\/?/, "")).split(",").length;
  if (named > MAX_BATCH_PROCEDURES) return refusal(400, "BAD_REQUEST", `At most ${MAX_BATCH_PROCEDURES} procedures in one request (this one names ${named})`);
  if (req.url.length > MAX_TRPC_URL_CHARS) return refusal(414, "BAD_REQUEST", `Request URL too long (at most ${MAX_TRPC_URL_CHARS} characters)`);
  // The batch wrapper ({"0": …}) is one level more than a procedure's own input.
  const input = url.searchParams.get("input");
  if (input && jsonNestsDeeperThan(input, NESTING_WITH_BATCH)) return refusal(400, "BAD_REQUEST", NESTED_TOO_DEEPLY);
  return null;
}

const NESTING_WITH_BATCH = 33;

function safeDecode(path: string): string {
  try { return decodeURIComponent(path); } catch { return path; }
}

/** A body (already capped at 1 MiB) nested deeper than any input: refused before JSON.parse walks it. */
export function trpcBodyRefusal(body: string): Response | null {
  return jsonNestsDeeperThan(body, NESTING_WITH_BATCH) ? refusal(400, "BAD_REQUEST", NESTED_TOO_DEEPLY) : null;
}

export function tooManyInFlight(perCaller: number): Response {
  return refusal(429, "TOO_MANY_REQUESTS", `Too many requests in progress for this session (at most ${perCaller} at once): try again in a moment`, { "retry-after": "1" });
}

const SESSION_COOKIE = /(?:^|;\s*)(?:__Secure-)?vdi\.session_token=([^;]+)/;

/**
 * Who a request's cost is counted against: its credential (an API token or node secret, else the
 * session cookie), hashed, else its client address. Distinct users never share a key.
 */
export function callerKey(headers: Headers, clientIp: string | null): string {
  const bearer = /^Bearer\s+(\S+)$/i.exec(headers.get("authorization")?.trim() ?? "")?.[1];
  const session = SESSION_COOKIE.exec(headers.get("cookie") ?? "")?.[1];
  const credential = bearer ? `bearer:${bearer}` : session ? `session:${session}` : null;
  if (credential) return createHash("sha256").update(credential).digest("base64url").slice(0, 22);
  return `ip:${clientIp ?? "unknown"}`;
}

interface Waiter { resolve(release: (() => void) | null): void; timer: ReturnType<typeof setTimeout> }

/**
 * At most `perCaller` requests of one caller run at once; up to `queue` more wait (at most
 * `waitMs`) for a slot; beyond that, or past the wait, `acquire` answers null (429).
 */
export class InFlightLimit {
  private readonly callers = new Map<string, { running: number; waiting: Waiter[] }>();
  constructor(readonly opts: { perCaller: number; queue: number; waitMs: number }) {}

  /** A release function once a slot is held; null when refused. */
  acquire(key: string): Promise<(() => void) | null> {
    let c = this.callers.get(key);
    if (!c) this.callers.set(key, (c = { running: 0, waiting: [] }));
    const caller = c;
    if (caller.running < this.opts.perCaller) {
      caller.running++;
      return Promise.resolve(this.releaser(key, caller));
    }
    if (caller.waiting.length >= this.opts.queue) return Promise.resolve(null);
    return new Promise((resolve) => {
      const waiter: Waiter = {
        resolve,
        timer: setTimeout(() => {
          caller.waiting.splice(caller.waiting.indexOf(waiter), 1);
          resolve(null);
        }, this.opts.waitMs),
      };
      caller.waiting.push(waiter);
    });
  }

  /** Callers holding or waiting for a slot (for tests and leak checks). */
  size(): number {
    return this.callers.size;
  }

  private releaser(key: string, caller: { running: number; waiting: Waiter[] }): () => void {
    let done = false;
    return () => {
      if (done) return;
      done = true;
      const next = caller.waiting.shift();
      if (next) {
        // The slot passes straight to the next in line.
        clearTimeout(next.timer);
        next.resolve(this.releaser(key, caller));
        return;
      }
      if (--caller.running === 0) this.callers.delete(key);
    };
  }
}

const KEY = Symbol.for("vdi.portal.trpc-in-flight");
const g = globalThis as unknown as Record<symbol, InFlightLimit | undefined>;

/** The portal process's limit (one per process, whatever bundle loads this module). */
export function inFlightLimit(): InFlightLimit {
  g[KEY] ??= new InFlightLimit({ perCaller: 16, queue: 16, waitMs: 2000 });
  return g[KEY];
}
