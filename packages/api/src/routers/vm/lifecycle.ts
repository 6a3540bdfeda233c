// Clone and resize: each its own procedure, each one service call.
import { z } from "zod";
import { authedProcedure } from "../../trpc.ts";
import { cloneVm } from "../../services/snapshot/snapshots.ts";
import { MAX_DISK_GIB, resizeVm } from "../../services/vm/resize-vm.ts";
import { shareVm } from "../../services/vm/share-vm.ts";
import { vmIdSchema, vmNameSchema } from "./vm.schema.ts";

const snapshotId = z.string().min(1).max(64).regex(/^[a-z0-9]+$/, "Invalid snapshot id");

export const clone = authedProcedure
  .input(z.object({ vmId: vmIdSchema, snapshotId: snapshotId.optional(), name: vmNameSchema, mode: z.enum(["linked", "full"]).default("full") }))
  .mutation(({ ctx, input }) => cloneVm(ctx, ctx.actor, input));

export const resize = authedProcedure
  .input(z.object({
    vmId: vmIdSchema,
    cpus: z.number().int("CPUs must be a whole number").min(1, "At least 1 CPU").max(64, "At most 64 CPUs").optional(),
    memoryMiB: z.number().int("Memory must be a whole number of MiB").min(64, "At least 64 MiB").max(262_144, "At most 256 GiB").optional(),
    diskGiB: z.number().int("Disk size must be a whole number of GiB").min(1, "At least 1 GiB").max(MAX_DISK_GIB, `At most ${MAX_DISK_GIB} GiB`).optional(),
  }))
  .mutation(({ ctx, input }) => resizeVm(ctx, ctx.actor, input));

export const share = authedProcedure
  .input(z.object({ vmId: vmIdSchema, shared: z.boolean() }))
  .mutation(({ ctx, input }) => shareVm(ctx.db, ctx.actor, input));
