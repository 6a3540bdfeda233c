// API tokens for scripts and the CLI: created, listed and revoked from a signed-in session only
// (a token calling these is refused by the scope check in trpc.ts, and again by the service).
import { z } from "zod";
import { authedProcedure, router } from "../trpc.ts";
import { API_TOKEN_SCOPES } from "../services/api-token/scopes.ts";
import { createApiToken, listApiTokens, MAX_API_TOKEN_DAYS, revokeApiToken } from "../services/api-token/manage-api-tokens.ts";

const createSchema = z.object({
  name: z.string().trim().min(1, "Give the token a name").max(64, "Token names are at most 64 characters"),
  scopes: z.array(z.enum(API_TOKEN_SCOPES)).min(1, "Choose at least one scope").max(API_TOKEN_SCOPES.length),
  expiresInDays: z.number().int("Days must be a whole number").min(1, "At least 1 day").max(MAX_API_TOKEN_DAYS, `At most ${MAX_API_TOKEN_DAYS} days`),
});
const tokenRefSchema = z.object({ tokenId: z.string().min(1).max(64).regex(/^[a-z0-9]+$/, "Invalid token id") });

export const apiTokenRouter = router({
  list: authedProcedure.query(({ ctx }) => listApiTokens(ctx.db, ctx.actor)),
  create: authedProcedure.input(createSchema).mutation(({ ctx, input }) => createApiToken(ctx.db, ctx.actor, input)),
  revoke: authedProcedure.input(tokenRefSchema).mutation(({ ctx, input }) => revokeApiToken(ctx.db, ctx.actor, input.tokenId)),
});
