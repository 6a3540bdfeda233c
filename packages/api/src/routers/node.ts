// Nodes: what tenants see (health, engines), and platform admins' list, drain and remove, and the
// one-time join tokens new hosts join with.
import { z } from "zod";
import { adminProcedure, authedProcedure, router } from "../trpc.ts";
import { listNodes } from "../services/node/list-nodes.ts";
import { listAllNodes, removeNode, setNodeDrained } from "../services/node/manage-nodes.ts";
import { createJoinToken, listJoinTokens, revokeJoinToken } from "../services/node/join-tokens.ts";

const nodeId = z.string().min(1).max(64).regex(/^[a-z0-9]+$/, "Invalid node id");
const joinTokenId = z.string().min(1).max(64).regex(/^[a-z0-9]+$/, "Invalid join token id");

export const nodeRouter = router({
  list: authedProcedure.query(({ ctx }) => listNodes(ctx)),
  listAll: adminProcedure.query(({ ctx }) => listAllNodes(ctx)),
  setDrained: adminProcedure.input(z.object({ nodeId, drained: z.boolean() })).mutation(({ ctx, input }) => setNodeDrained(ctx.db, input)),
  remove: adminProcedure.input(z.object({ nodeId })).mutation(({ ctx, input }) => removeNode(ctx, input)),
  /** A one-time token for a host to join with (shown once), valid 1 hour to 7 days. */
  createJoinToken: adminProcedure
    .input(z.object({ note: z.string().trim().max(200).optional(), expiresInHours: z.number().int().min(1, "At least an hour").max(168, "At most 7 days (168 hours)").optional() }))
    .mutation(({ ctx, input }) => createJoinToken(ctx.db, ctx.actor, input)),
  joinTokens: adminProcedure.query(({ ctx }) => listJoinTokens(ctx.db)),
  revokeJoinToken: adminProcedure.input(z.object({ joinTokenId })).mutation(({ ctx, input }) => revokeJoinToken(ctx.db, input)),
});
