// Per-account backoff for password logins. The per-address limit (Better Auth's, auth.ts) lets a
// whole office behind one NAT address log in at nine; this one stops guessing one account's
// password from many addresses: after FREE_TRIES wrong passwords, each further try on that account
// waits 1, 2, 4 … s (at most MAX_DELAY_MS) after the last one. A right password resets it.
// A try is *reserved* before its password is hashed: counted in the database by a compare-and-set,
// so 150 guesses sent at once count as 150 tries (5 are checked, the rest wait) and several portal
// processes share the count. A try that ends without its password being judged wrong gives its
// reservation back; a right one resets the account.
import type { Db } from "@vdi/db";
import { AppError } from "../../errors.ts";

const FREE_TRIES = 5;
const FORGET_AFTER_MS = 15 * 60_000;
const MAX_DELAY_MS = 5 * 60_000;
/** Compare-and-set rounds before a try gives up (only when many tries of one account race). */
const MAX_ROUNDS = 50;

/** How long an account with `tries` counted, the last at `lastAt`, waits before the next one (0: now). */
export function waitMs(tries: number, lastAt: Date, now: number): number {
  if (now - lastAt.getTime() > FORGET_AFTER_MS || tries < FREE_TRIES) return 0;
  const delay = Math.min(MAX_DELAY_MS, 1000 * 2 ** (tries - FREE_TRIES));
  return Math.max(0, lastAt.getTime() + delay - now);
}

const refused = (ms: number) => new AppError("RATE_LIMITED", { message: `Too many failed logins for this account: wait ${Math.ceil(ms / 1000)} seconds and try again` });

const isUniqueViolation = (e: unknown) => (e as { code?: string } | null)?.code === "P2002";

/** A counted try of one account; `release` gives it back, `succeeded` resets the account. */
export interface LoginTry {
  release(): Promise<void>;
  succeeded(): Promise<void>;
}

/** Counts one try of `email`, or throws RATE_LIMITED while the account's backoff runs. */
export async function reserveLoginTry(db: Db, rawEmail: string): Promise<LoginTry> {
  const email = rawEmail.trim().toLowerCase().slice(0, 254);
  for (let round = 0; round < MAX_ROUNDS; round++) {
    const now = Date.now();
    const row = await db.loginThrottle.findUnique({ where: { email } });
    if (!row) {
      try {
        // Quiet accounts are forgotten as new ones are counted: the table stays small.
        await db.loginThrottle.deleteMany({ where: { lastAt: { lt: new Date(now - FORGET_AFTER_MS) } } });
        await db.loginThrottle.create({ data: { email, tries: 1, lastAt: new Date(now) } });
        return tryOf(db, email);
      } catch (e) {
        if (isUniqueViolation(e)) continue;  // another try made the row first: read it
        throw e;
      }
    }
    const wait = waitMs(row.tries, row.lastAt, now);
    if (wait > 0) throw refused(wait);
    const tries = now - row.lastAt.getTime() > FORGET_AFTER_MS ? 1 : row.tries + 1;
    const won = await db.loginThrottle.updateMany({ where: { email, version: row.version }, data: { tries, lastAt: new Date(now), version: { increment: 1 } } });
    if (won.count === 1) return tryOf(db, email);
  }
  throw refused(1000);
}

function tryOf(db: Db, email: string): LoginTry {
  return {
    async release() {
      await db.loginThrottle.updateMany({ where: { email, tries: { gt: 0 } }, data: { tries: { decrement: 1 }, version: { increment: 1 } } });
    },
    succeeded: () => resetLoginTries(db, email),
  };
}

/** A login completed (password, and code where asked): the account's count starts again. */
export async function resetLoginTries(db: Db, email: string): Promise<void> {
  await db.loginThrottle.deleteMany({ where: { email: email.trim().toLowerCase() } });
}
