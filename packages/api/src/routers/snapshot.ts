import { z } from "zod";
import { authedProcedure, router } from "../trpc.ts";
import { cloneFromSnapshot, deleteSnapshot, listSnapshots, restoreSnapshot, takeSnapshot } from "../services/snapshot/snapshots.ts";
import { vmIdSchema, vmNameSchema } from "./vm/vm.schema.ts";

export const snapshotIdSchema = z.string().min(1).max(64).regex(/^[a-z0-9]+$/, "Invalid snapshot id");
const snapshotId = snapshotIdSchema;
const snapshotName = z.string().trim().min(1, "Give the snapshot a name").max(64, "Snapshot names are at most 64 characters")
  .regex(/^[\w .:-]+$/, "Use letters, digits, spaces and . _ : -");
const description = z.string().trim().max(500, "Descriptions are at most 500 characters");
export const cloneModeSchema = z.enum(["linked", "full"]);

export const snapshotRouter = router({
  list: authedProcedure.input(z.object({ vmId: vmIdSchema })).query(({ ctx, input }) => listSnapshots(ctx.db, ctx.actor, input.vmId)),
  create: authedProcedure
    .input(z.object({ vmId: vmIdSchema, name: snapshotName, description: description.optional(), withRam: z.boolean().optional() }))
    .mutation(({ ctx, input }) => takeSnapshot(ctx, ctx.actor, input)),
  restore: authedProcedure.input(z.object({ snapshotId })).mutation(({ ctx, input }) => restoreSnapshot(ctx, ctx.actor, input.snapshotId)),
  delete: authedProcedure.input(z.object({ snapshotId })).mutation(({ ctx, input }) => deleteSnapshot(ctx, ctx.actor, input.snapshotId)),
  clone: authedProcedure
    .input(z.object({ snapshotId, name: vmNameSchema, mode: cloneModeSchema.default("linked") }))
    .mutation(({ ctx, input }) => cloneFromSnapshot(ctx, ctx.actor, input)),
});
