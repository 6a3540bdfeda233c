// Delete a snapshot, keeping what the disk or other snapshots still build on.
import { snapshotDir } from "../../engines/engine.ts";
import type { NodeOperationRoom } from "./room.ts";

export const snapshotDeleteRoom: NodeOperationRoom<"snapshot-delete"> = {
  kind: "snapshot-delete",
  phase: "live",
  plan: { from: 5, to: 99 },
  cleanupOnFailure: true,
  async run(ctx) {
    ctx.fault("before");
    await ctx.storage.deleteSnapshot(ctx.paths, snapshotDir(ctx.paths, ctx.op.arg.snapshotId), ctx.live(), ctx.progress);
  },
};
