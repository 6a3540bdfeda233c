// Logs a user in through Better Auth and passes its cookies to the HTTP response: the session
// cookie, or, for a user with two-factor authentication, the short-lived two-factor cookie that
// verifyTotp / verifyBackupCode (two-factor-login.ts) exchange for a session.
import type { Auth } from "./auth.ts";
import { postToAuth } from "./auth-endpoint.ts";
import { AppError, isAppError } from "../../errors.ts";

export type LogInResult = { twoFactorRequired: false; userId: string } | { twoFactorRequired: true };

type SignedIn = { twoFactorRedirect: true } | { twoFactorRedirect?: false; user: { id: string } };

export async function logIn(auth: Auth, input: { email: string; password: string }, headers: Headers, resHeaders: Headers): Promise<LogInResult> {
  try {
    // Through Better Auth's HTTP handler, not auth.api: its per-client rate limit on /sign-in/*
    // (3 per 10 s) applies only there, and it is what stops password guessing.
    const body = await postToAuth<SignedIn>(auth, "/sign-in/email", input, headers, resHeaders);
    if (body.twoFactorRedirect) return { twoFactorRequired: true };
    return { twoFactorRequired: false, userId: body.user.id };
  } catch (err) {
    // Unknown email and wrong password read the same; a disabled account is refused only once the
    // password is right (its session would be made: auth.ts), the rate limit before either.
    if (isAppError(err) && (err.code === "UNAUTHENTICATED" || err.code === "INVALID_INPUT")) {
      throw new AppError("UNAUTHENTICATED", { message: "Wrong email or password" });
    }
    throw err;
  }
}

export async function logOut(auth: Auth, headers: Headers, resHeaders: Headers) {
  const res = await auth.api.signOut({ headers, returnHeaders: true });
  for (const cookie of res.headers.getSetCookie()) resHeaders.append("set-cookie", cookie);
}

/** Hashes with Better Auth's own hasher so seeded users log in through the normal path. */
export async function hashPassword(auth: Auth, password: string): Promise<string> {
  const ctx = await auth.$context;
  return ctx.password.hash(password);
}
