// Create, list and revoke a user's own API tokens. Only from a signed-in session: a token never manages tokens.
import type { Db } from "@vdi/db";
import type { Actor } from "../../context.ts";
import { AppError } from "../../errors.ts";
import { API_TOKEN_SCOPES, type ApiTokenScope } from "./scopes.ts";
import { newApiToken } from "./token-format.ts";
import { credentialsChanged } from "../auth/caller-cache.ts";

export const MAX_ACTIVE_API_TOKENS = 20;
export const MAX_API_TOKEN_DAYS = 365;
const DAY_MS = 24 * 60 * 60 * 1000;

function requireSession(actor: Actor): void {
  if (actor.via !== "session") throw new AppError("FORBIDDEN", { message: "API tokens are managed from a signed-in session, not with a token" });
}

export type ApiTokenStatus = "active" | "expired" | "revoked";

export interface ApiTokenView {
  id: string;
  name: string;
  prefix: string;
  scopes: ApiTokenScope[];
  expiresAt: Date;
  lastUsedAt: Date | null;
  revokedAt: Date | null;
  createdAt: Date;
  status: ApiTokenStatus;
}

function scopesOf(stored: string): ApiTokenScope[] {
  const set = new Set(stored.split(" "));
  return API_TOKEN_SCOPES.filter((s) => set.has(s));
}

export async function createApiToken(
  db: Db,
  actor: Actor,
  input: { name: string; scopes: readonly ApiTokenScope[]; expiresInDays: number },
  now = new Date(),
): Promise<{ tokenId: string; token: string; prefix: string; name: string; scopes: ApiTokenScope[]; expiresAt: Date }> {
  requireSession(actor);
  const scopes = API_TOKEN_SCOPES.filter((s) => input.scopes.includes(s));
  if (scopes.length === 0) throw new AppError("INVALID_INPUT", { message: "Choose at least one scope" });
  if (!Number.isInteger(input.expiresInDays) || input.expiresInDays < 1 || input.expiresInDays > MAX_API_TOKEN_DAYS) {
    throw new AppError("INVALID_INPUT", { message: `Tokens expire after 1 to ${MAX_API_TOKEN_DAYS} days` });
  }
  const active = await db.apiToken.count({ where: { userId: actor.userId, revokedAt: null, expiresAt: { gt: now } } });
  if (active >= MAX_ACTIVE_API_TOKENS) {
    throw new AppError("QUOTA_EXCEEDED", { message: `At most ${MAX_ACTIVE_API_TOKENS} active API tokens; revoke one first` });
  }
  const { prefix, secretHash, token } = newApiToken();
  const row = await db.apiToken.create({
    data: {
      name: input.name, prefix, secretHash, scopes: scopes.join(" "),
      userId: actor.userId, tenantId: actor.tenantId,
      expiresAt: new Date(now.getTime() + input.expiresInDays * DAY_MS),
    },
  });
  return { tokenId: row.id, token, prefix, name: row.name, scopes, expiresAt: row.expiresAt };
}

/** The user's own tokens, newest first; never the secret or its hash. */
export async function listApiTokens(db: Db, actor: Actor, now = new Date()): Promise<ApiTokenView[]> {
  requireSession(actor);
  const rows = await db.apiToken.findMany({
    where: { userId: actor.userId },
    orderBy: { createdAt: "desc" },
    select: { id: true, name: true, prefix: true, scopes: true, expiresAt: true, lastUsedAt: true, revokedAt: true, createdAt: true },
  });
  return rows.map((r) => ({
    ...r,
    scopes: scopesOf(r.scopes),
    status: r.revokedAt ? "revoked" : r.expiresAt <= now ? "expired" : "active",
  }));
}

/** Revokes one of the user's own tokens; revoking twice keeps the first time. */
export async function revokeApiToken(db: Db, actor: Actor, tokenId: string, now = new Date()): Promise<{ tokenId: string; revokedAt: Date }> {
  requireSession(actor);
  const row = await db.apiToken.findFirst({ where: { id: tokenId, userId: actor.userId }, select: { id: true, revokedAt: true } });
  if (!row) throw new AppError("NOT_FOUND", { message: "API token not found" });
  if (row.revokedAt) return { tokenId: row.id, revokedAt: row.revokedAt };
  await db.apiToken.updateMany({ where: { id: row.id, revokedAt: null }, data: { revokedAt: now } });
  credentialsChanged();
  const after = await db.apiToken.findUniqueOrThrow({ where: { id: row.id }, select: { revokedAt: true } });
  return { tokenId: row.id, revokedAt: after.revokedAt ?? now };
}
