// Calls Better Auth for the API's auth procedures, and turns its refusals into AppErrors.
import { isAPIError } from "better-auth/api";
import type { Auth } from "./auth.ts";
import { ACCOUNT_DISABLED } from "./auth.ts";
import { AppError } from "../../errors.ts";
import { CLIENT_IP_HEADER } from "../../lib/client-ip.ts";
import { internalAuthRequests } from "./auth-http.ts";

/** Headers of the caller's request that Better Auth reads: cookies, where it came from, the client IP (only ours: auth.ts). */
const FORWARDED = ["cookie", "origin", "referer", "user-agent", CLIENT_IP_HEADER, "sec-fetch-site", "sec-fetch-mode", "sec-fetch-dest"];

export interface AuthRefusal { status: number; code: string | null; retryAfterS: number | null }

/**
 * POSTs to one of Better Auth's endpoints through its HTTP handler rather than `auth.api`, so that
 * its rate limits (per client IP and path) and its Origin check apply to code guessing whichever
 * door is used. Cookies it sets go to the caller's response, as logIn passes the session cookie.
 */
export async function postToAuth<T>(auth: Auth, path: string, body: unknown, headers: Headers, resHeaders: Headers): Promise<T> {
  const { baseURL } = await auth.$context;
  const forwarded = new Headers({ "content-type": "application/json" });
  for (const name of FORWARDED) {
    const value = headers.get(name);
    if (value !== null) forwarded.set(name, value);
  }
  // Browsers send Origin with every POST; a request with none of these headers is a script's,
  // which no other site can make a browser send (apps/web/src/server/csrf.ts refuses the rest).
  if (!forwarded.has("origin") && !forwarded.has("referer") && !forwarded.has("sec-fetch-site")) {
    forwarded.set("origin", new URL(baseURL).origin);
  }
  const req = new Request(`${baseURL}${path}`, { method: "POST", headers: forwarded, body: JSON.stringify(body) });
  // Past the browser-path allow-list (auth-http.ts): the tRPC procedure calling this is audited.
  internalAuthRequests.add(req);
  const res = await auth.handler(req);
  for (const cookie of res.headers.getSetCookie()) resHeaders.append("set-cookie", cookie);
  const json = (await res.json().catch(() => null)) as (T & { code?: unknown }) | null;
  if (res.ok && json) return json;
  const retry = Number(res.headers.get("x-retry-after"));
  throw refusal({ status: res.status, code: typeof json?.code === "string" ? json.code : null, retryAfterS: Number.isFinite(retry) && retry > 0 ? retry : null });
}

/** Better Auth's error codes, in the words the portal shows. Codes and passwords never appear here or in logs. */
const MESSAGES: Record<string, [AppError["code"], string]> = {
  [ACCOUNT_DISABLED.code]: ["FORBIDDEN", ACCOUNT_DISABLED.message],
  INVALID_CODE: ["UNAUTHENTICATED", "Wrong code: enter the 6 digits your authenticator app shows now"],
  INVALID_BACKUP_CODE: ["UNAUTHENTICATED", "Wrong backup code, or one already used"],
  INVALID_TWO_FACTOR_COOKIE: ["UNAUTHENTICATED", "This sign-in has expired: log in with your password again"],
  TOO_MANY_ATTEMPTS_REQUEST_NEW_CODE: ["UNAUTHENTICATED", "Too many wrong codes: log in with your password again"],
  ACCOUNT_TEMPORARILY_LOCKED: ["RATE_LIMITED", "Too many wrong codes: try again in 15 minutes"],
  TOTP_NOT_ENABLED: ["INVALID_STATE", "Two-factor authentication is not set up for this account"],
  BACKUP_CODES_NOT_ENABLED: ["INVALID_STATE", "Two-factor authentication is not set up for this account"],
  TWO_FACTOR_NOT_ENABLED: ["INVALID_STATE", "Two-factor authentication is not set up for this account"],
  TOTP_ALREADY_ENABLED: ["INVALID_STATE", "Two-factor authentication is already on"],
  INVALID_PASSWORD: ["INVALID_INPUT", "Wrong password"],
  INVALID_EMAIL_OR_PASSWORD: ["UNAUTHENTICATED", "Wrong email or password"],
  INVALID_ORIGIN: ["FORBIDDEN", "Refused: this request did not come from the portal's own pages"],
  MISSING_OR_NULL_ORIGIN: ["FORBIDDEN", "Refused: this request did not come from the portal's own pages"],
  UNAUTHORIZED: ["UNAUTHENTICATED", "Please log in"],
};

export function refusal(r: AuthRefusal): AppError {
  if (r.status === 429) {
    return new AppError("RATE_LIMITED", { message: `Too many attempts: wait ${r.retryAfterS ?? 10} seconds and try again` });
  }
  const known = r.code ? MESSAGES[r.code] : undefined;
  if (known) return new AppError(known[0], { message: known[1] });
  return new AppError("INTERNAL", { message: `Authentication failed (${r.status}${r.code ? ` ${r.code}` : ""})` });
}

/** For `auth.api` calls: Better Auth's APIError as an AppError; anything else as it is. */
export function fromAuthError(err: unknown): unknown {
  if (!isAPIError(err)) return err;
  const body = err.body as { code?: unknown } | undefined;
  return refusal({ status: err.statusCode, code: typeof body?.code === "string" ? body.code : null, retryAfterS: null });
}
