// Logs a user in through Better Auth and passes its session cookie to the HTTP response.
import { APIError } from "better-auth/api";
import type { Auth } from "./auth.ts";
import { AppError } from "../../errors.ts";

export async function logIn(auth: Auth, input: { email: string; password: string }, headers: Headers, resHeaders: Headers) {
  try {
    const res = await auth.api.signInEmail({ body: input, headers, returnHeaders: true });
    for (const cookie of res.headers.getSetCookie()) resHeaders.append("set-cookie", cookie);
    return { userId: res.response.user.id };
  } catch (err) {
    if (err instanceof APIError && (err.statusCode === 401 || err.statusCode === 400)) {
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
