// One-time join tokens (docs/multi-node.md, "Joining and trust"): a platform admin makes one for
// each host to join; the host's agent trades it at registration for its own credentials. The
// portal keeps the token's SHA-256 only, with its expiry, note and creator; registration consumes
// it with a conditional update, so one token joins one node, once. A used, expired or revoked
// token is refused in the same words as a wrong one.
import { createHash, randomBytes } from "node:crypto";
import type { Db } from "@vdi/db";
import type { Actor } from "../../context.ts";
import { AppError } from "../../errors.ts";

type Tx = Parameters<Parameters<Db["$transaction"]>[0]>[0];

export const JOIN_TOKEN_PREFIX = "vdij_";
/** Live (unused, unexpired, unrevoked) tokens at most: a leaked admin session cannot mint without end. */
export const MAX_LIVE_JOIN_TOKENS = 100;
export const DEFAULT_JOIN_TOKEN_HOURS = 24;

const hash = (token: string) => createHash("sha256").update(token).digest("hex");

export interface JoinTokenView { joinTokenId: string; note: string; createdAt: Date; expiresAt: Date; usedAt: Date | null; usedByNodeId: string | null; revokedAt: Date | null; state: "live" | "used" | "expired" | "revoked" }

function view(t: { id: string; note: string; createdAt: Date; expiresAt: Date; usedAt: Date | null; usedByNodeId: string | null; revokedAt: Date | null }, now = Date.now()): JoinTokenView {
  const state = t.revokedAt ? "revoked" : t.usedAt ? "used" : t.expiresAt.getTime() <= now ? "expired" : "live";
  return { joinTokenId: t.id, note: t.note, createdAt: t.createdAt, expiresAt: t.expiresAt, usedAt: t.usedAt, usedByNodeId: t.usedByNodeId, revokedAt: t.revokedAt, state };
}

/** Makes a token (shown once, in the answer) valid for `expiresInHours`. */
export async function createJoinToken(db: Db, actor: Actor, input: { note?: string | undefined; expiresInHours?: number | undefined }) {
  const live = await db.nodeJoinToken.count({ where: { usedAt: null, revokedAt: null, expiresAt: { gt: new Date() } } });
  if (live >= MAX_LIVE_JOIN_TOKENS) throw new AppError("QUOTA_EXCEEDED", { message: `At most ${MAX_LIVE_JOIN_TOKENS} join tokens can wait for their node; revoke some first` });
  const token = `${JOIN_TOKEN_PREFIX}${randomBytes(32).toString("base64url")}`;
  const row = await db.nodeJoinToken.create({
    data: { tokenHash: hash(token), note: input.note ?? "", createdById: actor.userId, expiresAt: new Date(Date.now() + (input.expiresInHours ?? DEFAULT_JOIN_TOKEN_HOURS) * 3600_000) },
  });
  return { ...view(row), token };
}

export async function listJoinTokens(db: Db) {
  const rows = await db.nodeJoinToken.findMany({ orderBy: { createdAt: "desc" }, take: 200 });
  return rows.map((r) => view(r));
}

export async function revokeJoinToken(db: Db, input: { joinTokenId: string }) {
  const row = await db.nodeJoinToken.findUnique({ where: { id: input.joinTokenId } });
  if (!row) throw new AppError("NOT_FOUND", { message: "Join token not found" });
  if (row.usedAt) throw new AppError("INVALID_STATE", { message: "This join token was used already: remove the node it joined instead" });
  if (!row.revokedAt) await db.nodeJoinToken.updateMany({ where: { id: row.id, revokedAt: null, usedAt: null }, data: { revokedAt: new Date() } });
  return view((await db.nodeJoinToken.findUnique({ where: { id: row.id } }))!);
}

/** Consumes a live token in `tx` (one winner among racing registrations); its id, or null. */
export async function consumeJoinToken(tx: Tx, token: string): Promise<string | null> {
  if (!token.startsWith(JOIN_TOKEN_PREFIX)) return null;
  const row = await tx.nodeJoinToken.findUnique({ where: { tokenHash: hash(token) }, select: { id: true } });
  if (!row) return null;
  const taken = await tx.nodeJoinToken.updateMany({ where: { id: row.id, usedAt: null, revokedAt: null, expiresAt: { gt: new Date() } }, data: { usedAt: new Date() } });
  return taken.count === 1 ? row.id : null;
}
