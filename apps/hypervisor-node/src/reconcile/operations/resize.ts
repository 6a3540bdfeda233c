// Grow the disk (online when the VM runs). CPUs and memory need no work here: the next start uses them.
import type { NodeOperationRoom } from "./room.ts";

export const resizeRoom: NodeOperationRoom<"resize"> = {
  kind: "resize",
  phase: "live",
  plan: { from: 5, to: 99 },
  cleanupOnFailure: true,
  async run(ctx) {
    if (ctx.op.arg.diskGiB !== undefined) await ctx.storage.growDisk(ctx.paths, ctx.live(), ctx.op.arg.diskGiB);
  },
};
