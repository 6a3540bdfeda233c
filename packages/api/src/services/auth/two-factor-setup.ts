// Turning TOTP on and off for the signed-in user. On: the password, then Better Auth makes a
// secret and backup codes (shown once), and 2FA is on only once a first code confirms that an
// app holds the secret. Off: the password again.
import type { Db } from "@vdi/db";
import type { Actor } from "../../context.ts";
import { AppError } from "../../errors.ts";
import type { Auth } from "./auth.ts";
import { fromAuthError, postToAuth } from "./auth-endpoint.ts";

interface Deps { db: Db; auth: Auth }

async function stateOf(db: Db, userId: string) {
  const user = await db.user.findUniqueOrThrow({ where: { id: userId }, select: { twoFactorEnabled: true, _count: { select: { twoFactors: true } } } });
  return { enabled: user.twoFactorEnabled, hasSecret: user._count.twoFactors > 0 };
}

export async function twoFactorStatus({ db, auth }: Deps, actor: Actor) {
  const { enabled, hasSecret } = await stateOf(db, actor.userId);
  let backupCodesLeft: number | null = null;
  if (enabled) {
    const codes = await auth.api.viewBackupCodes({ body: { userId: actor.userId } }).catch(() => null);
    backupCodesLeft = codes?.backupCodes.length ?? null;
  }
  return { enabled, pendingSetup: !enabled && hasSecret, backupCodesLeft };
}

/** The base32 secret inside an otpauth:// URI, for people who type it into their app. */
function secretOf(totpURI: string): string {
  return new URL(totpURI).searchParams.get("secret") ?? "";
}

export async function enableTwoFactor({ db, auth }: Deps, actor: Actor, input: { password: string }, headers: Headers) {
  const state = await stateOf(db, actor.userId);
  if (state.enabled) throw new AppError("INVALID_STATE", { message: "Two-factor authentication is already on" });
  // A setup never confirmed is replaced: no app was shown to hold its secret. (Better Auth would
  // read the row as enabled, our table having no "verified" column: see auth.ts.)
  if (state.hasSecret) await db.twoFactor.deleteMany({ where: { userId: actor.userId } });
  try {
    const res = await auth.api.enableTwoFactor({ body: { password: input.password }, headers });
    if (!("totpURI" in res) || !res.totpURI) throw new AppError("INTERNAL", { message: "Better Auth returned no TOTP secret" });
    return { totpURI: res.totpURI, secret: secretOf(res.totpURI), backupCodes: res.backupCodes ?? [] };
  } catch (err) {
    throw fromAuthError(err);
  }
}

export async function confirmTwoFactor({ db, auth }: Deps, actor: Actor, input: { code: string }, headers: Headers, resHeaders: Headers) {
  const state = await stateOf(db, actor.userId);
  if (state.enabled) throw new AppError("INVALID_STATE", { message: "Two-factor authentication is already on" });
  if (!state.hasSecret) throw new AppError("INVALID_STATE", { message: "Start by turning two-factor authentication on" });
  // Better Auth turns it on and replaces the session (the new cookie goes to resHeaders).
  await postToAuth(auth, "/two-factor/verify-totp", { code: input.code }, headers, resHeaders);
  return { enabled: true };
}

export async function disableTwoFactor({ db, auth }: Deps, actor: Actor, input: { password: string }, headers: Headers, resHeaders: Headers) {
  const state = await stateOf(db, actor.userId);
  if (!state.enabled && !state.hasSecret) throw new AppError("INVALID_STATE", { message: "Two-factor authentication is already off" });
  try {
    const res = await auth.api.disableTwoFactor({ body: { password: input.password }, headers, returnHeaders: true });
    for (const cookie of res.headers.getSetCookie()) resHeaders.append("set-cookie", cookie);
  } catch (err) {
    throw fromAuthError(err);
  }
  return { enabled: false };
}
