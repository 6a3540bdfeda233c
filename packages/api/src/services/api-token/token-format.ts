// The API token's wire format: vdi_<prefix>_<secret>. The prefix is a public id (stored, unique);
// only sha256(secret) is stored, so a database leak gives no usable token.
import { createHash, randomBytes, timingSafeEqual } from "node:crypto";

const TOKEN_RE = /^vdi_([0-9a-f]{12})_([A-Za-z0-9_-]{43})$/;

export interface NewApiToken {
  prefix: string;
  secretHash: string;
  /** The full token, shown to its owner exactly once. */
  token: string;
}

export function hashTokenSecret(secret: string): string {
  return createHash("sha256").update(secret).digest("hex");
}

export function newApiToken(): NewApiToken {
  const prefix = randomBytes(6).toString("hex");
  const secret = randomBytes(32).toString("base64url");
  return { prefix, secretHash: hashTokenSecret(secret), token: `vdi_${prefix}_${secret}` };
}

export function parseApiToken(raw: string): { prefix: string; secret: string } | null {
  const m = TOKEN_RE.exec(raw);
  return m ? { prefix: m[1]!, secret: m[2]! } : null;
}

/** Constant-time comparison of two hex sha256 digests. */
export function sameSecretHash(stored: string, given: string): boolean {
  const a = Buffer.from(stored, "utf8");
  const b = Buffer.from(given, "utf8");
  return a.length === b.length && timingSafeEqual(a, b);
}
