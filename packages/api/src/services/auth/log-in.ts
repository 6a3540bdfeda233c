// Logs a user in through Better Auth and passes its cookies to the HTTP response: the session
// cookie, or, for a user with two-factor authentication, the short-lived two-factor cookie that
// verifyTotp / verifyBackupCode (two-factor-login.ts) exchange for a session.
import type { Db } from "@vdi/db";
import type { Auth } from "./auth.ts";
import { postToAuth } from "./auth-endpoint.ts";
import { reserveLoginTry } from "./login-guard.ts";
import { AppError, isAppError } from "../../errors.ts";
import { credentialsChanged } from "./caller-cache.ts";

export type LogInResult = { twoFactorRequired: false; userId: string } | { twoFactorRequired: true };

type SignedIn = { twoFactorRedirect: true } | { twoFactorRedirect?: false; user: { id: string } };

export async function logIn(deps: { db: Db; auth: Auth }, input: { email: string; password: string }, headers: Headers, resHeaders: Headers): Promise<LogInResult> {
  // The try is counted before the password is hashed (login-guard.ts): an account that has had
  // too many wrong passwords waits first, whatever the address, however many tries run at once.
  const counted = await reserveLoginTry(deps.db, input.email);
  let body: SignedIn;
  try {
    // Through Better Auth's HTTP handler, not auth.api: its per-client rate limit on /sign-in/*
    // applies only there (auth.ts).
    body = await postToAuth<SignedIn>(deps.auth, "/sign-in/email", input, headers, resHeaders);
  } catch (err) {
    // Unknown email and wrong password read the same (and count the same: no hint which accounts
    // exist); a disabled account is refused only once the password is right (its session would
    // be made: auth.ts), the rate limits before either.
    if (isAppError(err) && (err.code === "UNAUTHENTICATED" || err.code === "INVALID_INPUT")) {
      throw new AppError("UNAUTHENTICATED", { message: "Wrong email or password" });
    }
    // Not judged wrong (the address's rate limit, a disabled account, a fault): not a guess.
    await counted.release();
    throw err;
  }
  // A two-factor challenge stays counted until its code is right (two-factor-login.ts): each
  // challenge allows 5 codes, so challenges must not come free either.
  if (body.twoFactorRedirect) return { twoFactorRequired: true };
  await counted.succeeded();
  return { twoFactorRequired: false, userId: body.user.id };
}

export async function logOut(auth: Auth, headers: Headers, resHeaders: Headers) {
  const res = await auth.api.signOut({ headers, returnHeaders: true });
  credentialsChanged();
  for (const cookie of res.headers.getSetCookie()) resHeaders.append("set-cookie", cookie);
}

/** Hashes with Better Auth's own hasher so seeded users log in through the normal path. */
export async function hashPassword(auth: Auth, password: string): Promise<string> {
  const ctx = await auth.$context;
  return ctx.password.hash(password);
}
