// Who a credential (an API token, a session cookie) stands for, remembered for a few seconds: every
// request resolved its caller afresh (token row and user, or Better Auth's session read plus our
// disabledAt read), the largest part of a short read's cost under load. docs/auth.md ("Caller cache").
import { createHash } from "node:crypto";
import type { Actor } from "../../context.ts";
import { bus } from "../../lib/bus.ts";

/** A change made elsewhere (another portal process, a script on the database) takes effect within this. */
export const CALLER_CACHE_MS = 5_000;
const MAX_ENTRIES = 10_000;

/**
 * Emitted (after the commit, through the bus) when a credential or what it grants changes: a token
 * revoked, a user disabled or re-enabled, a role changed, a sign-out. Empties this process's cache.
 */
export const CREDENTIALS_TOPIC = "credentials";

export function credentialsChanged(): void {
  bus().emit(CREDENTIALS_TOPIC);
}

interface Entry { actor: Actor; until: number }

export class CallerCache {
  private readonly entries = new Map<string, Entry>();
  /** Bumped by every clear: a lookup that began before a change must not store what it read. */
  private generation = 0;

  constructor(readonly ttlMs = CALLER_CACHE_MS) {}

  /**
   * The actor for `credential`: remembered, or `resolve`d (and remembered until `expiresAt` or the
   * bound, whichever is sooner). Refusals are not remembered: a bad credential is read every time.
   */
  async actorFor(credential: string, resolve: () => Promise<{ actor: Actor; expiresAt: Date } | null>, now = Date.now()): Promise<Actor | null> {
    const key = createHash("sha256").update(credential).digest("base64url");
    const hit = this.entries.get(key);
    if (hit && hit.until > now) return hit.actor;
    if (hit) this.entries.delete(key);
    const began = this.generation;
    const found = await resolve();
    if (!found) return null;
    if (this.generation === began) {
      if (this.entries.size >= MAX_ENTRIES) this.entries.delete(this.entries.keys().next().value!);
      this.entries.set(key, { actor: found.actor, until: Math.min(now + this.ttlMs, found.expiresAt.getTime()) });
    }
    return found.actor;
  }

  clear(): void {
    this.generation++;
    this.entries.clear();
  }

  size(): number {
    return this.entries.size;
  }
}

// On globalThis: Next.js may load this module once per route bundle; one cache per process.
const KEY = Symbol.for("vdi.caller-cache");
const g = globalThis as unknown as Record<symbol, CallerCache | undefined>;

export function callerCache(): CallerCache {
  let c = g[KEY];
  if (!c) {
    const cache = new CallerCache();
    // The shared bus (not a transaction's holding one): listeners live on it.
    bus().on(CREDENTIALS_TOPIC, () => cache.clear());
    g[KEY] = c = cache;
  }
  return c;
}
