// The second step of logging in for a user with two-factor authentication: a code from the
// authenticator app, or a one-time backup code, exchanged (with the two-factor cookie that
// logIn set) for a session. Better Auth's rate limits apply: postToAuth goes through its handler.
import type { Db } from "@vdi/db";
import type { Auth } from "./auth.ts";
import { postToAuth } from "./auth-endpoint.ts";
import { resetLoginTries } from "./login-guard.ts";

interface Verified { user: { id: string; email: string } }

export async function verifyTotp(deps: { db: Db; auth: Auth }, input: { code: string; trustDevice?: boolean | undefined }, headers: Headers, resHeaders: Headers) {
  const res = await postToAuth<Verified>(deps.auth, "/two-factor/verify-totp", { code: input.code, trustDevice: input.trustDevice ?? false }, headers, resHeaders);
  await resetLoginTries(deps.db, res.user.email);  // the login is complete: the account's tries reset
  return { userId: res.user.id };
}

export async function verifyBackupCode(deps: { db: Db; auth: Auth }, input: { code: string }, headers: Headers, resHeaders: Headers) {
  const res = await postToAuth<Verified>(deps.auth, "/two-factor/verify-backup-code", { code: input.code }, headers, resHeaders);
  await resetLoginTries(deps.db, res.user.email);
  return { userId: res.user.id };
}
