// Logs a user in through Better Auth and passes its cookies to the HTTP response: the session
// cookie, or, for a user with two-factor authentication, the short-lived two-factor cookie that
// verifyTotp / verifyBackupCode (two-factor-login.ts) exchange for a session.
import { APIError } from "better-auth/api";
import type { Auth } from "./auth.ts";
import { fromAuthError } from "./auth-endpoint.ts";
import { AppError } from "../../errors.ts";

export type LogInResult = { twoFactorRequired: false; userId: string } | { twoFactorRequired: true };

export async function logIn(auth: Auth, input: { email: string; password: string }, headers: Headers, resHeaders: Headers): Promise<LogInResult> {
  try {
    const res = await auth.api.signInEmail({ body: input, headers, returnHeaders: true });
    for (const cookie of res.headers.getSetCookie()) resHeaders.append("set-cookie", cookie);
    const body: object = res.response;
    if ("twoFactorRedirect" in body && body.twoFactorRedirect) return { twoFactorRequired: true };
    return { twoFactorRequired: false, userId: res.response.user.id };
  } catch (err) {
    if (err instanceof APIError && (err.statusCode === 401 || err.statusCode === 400)) {
      throw new AppError("UNAUTHENTICATED", { message: "Wrong email or password" });
    }
    // A disabled account is refused when its session would be made (auth.ts), after the password check.
    throw fromAuthError(err);
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
