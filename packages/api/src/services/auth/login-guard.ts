// Per-account backoff for password logins. The per-address limit (Better Auth's, auth.ts) lets a
// whole office behind one NAT address log in at nine; this one stops guessing one account's
// password from many addresses: after FREE_FAILURES wrong passwords, each further try on that
// account waits 1, 2, 4 … s (at most MAX_DELAY_MS) after the last failure. A right password
// resets it. In memory, per portal process (like Better Auth's limiter), bounded in size.
import type { Auth } from "./auth.ts";

const FREE_FAILURES = 5;
const FORGET_AFTER_MS = 15 * 60_000;
const MAX_DELAY_MS = 5 * 60_000;
const MAX_ACCOUNTS = 100_000;

export class LoginGuard {
  private readonly failures = new Map<string, { count: number; lastAt: number }>();

  /** How long this account must wait before its next try (0: now). */
  waitMs(email: string, now = Date.now()): number {
    const f = this.failures.get(email.toLowerCase());
    if (!f || now - f.lastAt > FORGET_AFTER_MS || f.count < FREE_FAILURES) return 0;
    const delay = Math.min(MAX_DELAY_MS, 1000 * 2 ** (f.count - FREE_FAILURES));
    return Math.max(0, f.lastAt + delay - now);
  }

  failed(email: string, now = Date.now()): void {
    const key = email.toLowerCase();
    const f = this.failures.get(key);
    const count = f && now - f.lastAt <= FORGET_AFTER_MS ? f.count + 1 : 1;
    this.failures.delete(key);  // re-inserted last: the map's order is oldest failure first
    this.failures.set(key, { count, lastAt: now });
    if (this.failures.size > MAX_ACCOUNTS) this.failures.delete(this.failures.keys().next().value!);
  }

  succeeded(email: string): void {
    this.failures.delete(email.toLowerCase());
  }
}

const guards = new WeakMap<Auth, LoginGuard>();

/** The guard of one portal's auth instance. */
export function loginGuardOf(auth: Auth): LoginGuard {
  let g = guards.get(auth);
  if (!g) guards.set(auth, (g = new LoginGuard()));
  return g;
}
