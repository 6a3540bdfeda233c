// Turns "Bearer vdi_..." into the Actor it stands for, or a short reason it is refused.
import type { Db } from "@vdi/db";
import type { Actor } from "../../context.ts";
import { API_TOKEN_SCOPES } from "./scopes.ts";
import { actorOfUser } from "../auth/actor-of-user.ts";
import { hashTokenSecret, parseApiToken, sameSecretHash } from "./token-format.ts";

/** lastUsedAt is a hint for the owner, not a log: one write a minute per token at most. */
const LAST_USED_EVERY_MS = 60_000;

export type ApiTokenCheck = { ok: true; actor: Actor; expiresAt: Date } | { ok: false; reason: string };

export async function verifyApiToken(db: Db, raw: string, now = new Date()): Promise<ApiTokenCheck> {
  const parsed = parseApiToken(raw);
  if (!parsed) return { ok: false, reason: "Malformed API token" };
  const row = await db.apiToken.findUnique({
    where: { prefix: parsed.prefix },
    include: { user: { select: { id: true, email: true, name: true, role: true, tenantId: true, disabledAt: true } } },
  });
  // The prefix is public; only the secret proves anything. Unknown prefix and wrong secret read the same.
  if (!row || !sameSecretHash(row.secretHash, hashTokenSecret(parsed.secret))) return { ok: false, reason: "Unknown API token" };
  // Past this point the caller holds the real secret: telling them why it stopped working is safe.
  if (row.revokedAt) return { ok: false, reason: "API token revoked" };
  if (row.expiresAt <= now) return { ok: false, reason: "API token expired" };
  if (row.user.disabledAt) return { ok: false, reason: "User account disabled" };
  if (row.user.tenantId !== row.tenantId) return { ok: false, reason: "API token no longer valid" };

  if (!row.lastUsedAt || now.getTime() - row.lastUsedAt.getTime() >= LAST_USED_EVERY_MS) {
    const before = new Date(now.getTime() - LAST_USED_EVERY_MS);
    await db.apiToken.updateMany({
      where: { id: row.id, OR: [{ lastUsedAt: null }, { lastUsedAt: { lte: before } }] },
      data: { lastUsedAt: now },
    });
  }
  const stored = new Set(row.scopes.split(" "));
  return { ok: true, expiresAt: row.expiresAt, actor: actorOfUser(row.user, "token", API_TOKEN_SCOPES.filter((s) => stored.has(s))) };
}
