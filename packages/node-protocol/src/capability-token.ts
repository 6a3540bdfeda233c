// Console tokens: Ed25519-signed, short-lived claims that name the VM, node, user and protocol.
// The portal holds the private key; nodes verify with the public key. "vnc" tokens open one
// console each, "rdp" one desktop session each (single use); "thumb" tokens only read a screen thumbnail and may be reused.
import { createPrivateKey, createPublicKey, generateKeyPairSync, randomBytes, sign, verify, type KeyObject } from "node:crypto";
import { z } from "zod";
import { decodeBase64url } from "./base64url.ts";

export const CONSOLE_TOKEN_TTL_MS = 60_000;
export const CONSOLE_TOKEN_MAX_LENGTH = 2048;

export const consoleClaimsSchema = z.object({
  v: z.literal(1),
  vm: z.string().min(1).max(64),
  node: z.string().min(1).max(64),
  user: z.string().min(1).max(64),
  proto: z.enum(["vnc", "rdp", "thumb"]),
  /** The seat session the console belongs to (a seat's kiosk): it closes when that session ends. */
  ss: z.string().min(1).max(64).optional(),
  /** A helpdesk shadow of that session (its grant's id): it closes when the grant ends. */
  sh: z.string().min(1).max(64).optional(),
  /** View only: the gateway passes none of the client's input (keys, pointer, clipboard, resize). */
  ro: z.boolean().optional(),
  jti: z.string().min(16).max(64),
  iat: z.number().int(),
  exp: z.number().int(),
});
export type ConsoleClaims = z.infer<typeof consoleClaimsSchema>;

export interface ConsoleSigner {
  publicKeyPem: string;
  sign(claims: Omit<ConsoleClaims, "v" | "jti" | "iat" | "exp">, now?: number): { token: string; claims: ConsoleClaims };
}

export function generateConsoleKeyPem(): string {
  return generateKeyPairSync("ed25519").privateKey.export({ type: "pkcs8", format: "pem" }).toString();
}

export function createConsoleSigner(privateKeyPem: string): ConsoleSigner {
  const key = createPrivateKey(privateKeyPem);
  const publicKeyPem = createPublicKey(key).export({ type: "spki", format: "pem" }).toString();
  return {
    publicKeyPem,
    sign(partial, now = Date.now()) {
      const claims: ConsoleClaims = { v: 1, ...partial, jti: randomBytes(18).toString("base64url"), iat: now, exp: now + CONSOLE_TOKEN_TTL_MS };
      const body = Buffer.from(JSON.stringify(claims)).toString("base64url");
      const sig = sign(null, Buffer.from(body), key).toString("base64url");
      return { token: `${body}.${sig}`, claims };
    },
  };
}

export type VerifyResult = { ok: true; claims: ConsoleClaims } | { ok: false; reason: string };

export function verifyConsoleToken(token: string, publicKey: KeyObject | string, now = Date.now()): VerifyResult {
  if (typeof token !== "string" || token.length === 0) return { ok: false, reason: "missing token" };
  if (token.length > CONSOLE_TOKEN_MAX_LENGTH) return { ok: false, reason: "token too long" };
  const parts = token.split(".");
  if (parts.length !== 2 || !parts[0] || !parts[1]) return { ok: false, reason: "malformed token" };
  const [body, sig] = parts as [string, string];
  // Strictly decoded (lib/base64url.ts): Node's decoder would accept "sig==" as "sig".
  const sigBytes = decodeBase64url(sig);
  const bodyBytes = decodeBase64url(body);
  if (!sigBytes || !bodyBytes) return { ok: false, reason: "malformed token" };
  let good = false;
  try {
    good = verify(null, Buffer.from(body), typeof publicKey === "string" ? createPublicKey(publicKey) : publicKey, sigBytes);
  } catch {
    good = false;
  }
  if (!good) return { ok: false, reason: "bad signature" };
  let parsed: unknown;
  try {
    parsed = JSON.parse(bodyBytes.toString("utf8"));
  } catch {
    return { ok: false, reason: "malformed claims" };
  }
  const claims = consoleClaimsSchema.safeParse(parsed);
  if (!claims.success) return { ok: false, reason: "malformed claims" };
  if (claims.data.exp <= now) return { ok: false, reason: "token expired" };
  if (claims.data.iat > now + 5_000) return { ok: false, reason: "token not yet valid" };
  if (claims.data.exp - claims.data.iat > CONSOLE_TOKEN_TTL_MS) return { ok: false, reason: "token lifetime too long" };
  return { ok: true, claims: claims.data };
}

/** Remembers used token ids until they expire, so each token opens one console only. */
export class ReplayGuard {
  private readonly used = new Map<string, number>();
  constructor(private readonly maxEntries = 100_000) {}

  /** Returns false if the id was already used (or the guard is full: fail closed). */
  claim(jti: string, exp: number, now = Date.now()): boolean {
    if (this.used.size > this.maxEntries / 2) {
      for (const [id, e] of this.used) if (e <= now) this.used.delete(id);
    }
    if (this.used.has(jti) || this.used.size >= this.maxEntries) return false;
    this.used.set(jti, exp);
    return true;
  }
}
