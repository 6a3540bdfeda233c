// A node's credentials as it presents them ("Authorization: Bearer node.<nodeId>.<secret>"), and the
// check against the hash the portal keeps. Shared by nodeProcedure (trpc.ts) and registration.
import { createHash, timingSafeEqual } from "node:crypto";

export interface PresentedNodeCredentials { nodeId: string; secret: string }

const NODE_BEARER = /^Bearer node\.([a-z0-9]{1,40})\.([A-Za-z0-9_-]{20,200})$/;

export function nodeCredentialsOf(authorization: string | null | undefined): PresentedNodeCredentials | null {
  const m = NODE_BEARER.exec(authorization ?? "");
  return m ? { nodeId: m[1]!, secret: m[2]! } : null;
}

export function hashSecret(secret: string): string {
  return createHash("sha256").update(secret).digest("hex");
}

/** Whether `secret` is the one whose hash is stored, in constant time. */
export function secretMatches(storedHash: string, secret: string): boolean {
  const given = Buffer.from(hashSecret(secret));
  const stored = Buffer.from(storedHash);
  return stored.length === given.length && timingSafeEqual(stored, given);
}
