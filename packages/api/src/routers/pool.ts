// Desktop pools (docs/seating.md): tenant admins make, size and remove them; the list carries the
// login-time breakdown per pool.
import { z } from "zod";
import { router, tenantAdminProcedure } from "../trpc.ts";
import { createPool, deletePool, listPools, MAX_POOL_SIZE, POOL_POLICIES, updatePool } from "../services/seat/pools.ts";

const id = z.string().min(1).max(64).regex(/^[a-z0-9]+$/, "Invalid id");
const poolName = z.string().trim().min(1, "Name the pool").max(48).regex(/^[\p{L}\p{N}][\p{L}\p{N} ._-]*$/u, "Use letters, digits, spaces, dots, hyphens and underscores");
const sizes = z.object({
  warmSize: z.number().int().min(0).max(MAX_POOL_SIZE),
  maxSize: z.number().int().min(1).max(MAX_POOL_SIZE),
  perUserLimit: z.number().int().min(1).max(10),
  /** Minutes a user may be gone before the desktop is saved (persistent) or thrown away. */
  disconnectMinutes: z.number().int().min(0).max(7 * 24 * 60),
  /** Minutes without input before the user is logged off. */
  idleLogoffMinutes: z.number().int().min(1).max(7 * 24 * 60),
});

export const poolRouter = router({
  create: tenantAdminProcedure
    .input(sizes.extend({ name: poolName, templateId: id, policy: z.enum(POOL_POLICIES) }))
    .mutation(({ ctx, input }) => createPool(ctx.db, ctx.actor, input)),
  update: tenantAdminProcedure.input(sizes.extend({ poolId: id })).mutation(({ ctx, input }) => updatePool(ctx.db, ctx.actor, input)),
  list: tenantAdminProcedure.query(({ ctx }) => listPools(ctx.db, ctx.actor)),
  delete: tenantAdminProcedure.input(z.object({ poolId: id })).mutation(({ ctx, input }) => deletePool(ctx, ctx.actor, input.poolId)),
});
