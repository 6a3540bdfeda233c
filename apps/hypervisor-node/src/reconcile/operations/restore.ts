// Go back to a snapshot: the VM stops, its disk (and with RAM its memory) goes back, and a snapshot
// with RAM runs on from there. A revert that cannot work is refused before anything stops.
import { snapshotDir } from "../../engines/engine.ts";
import type { NodeOperationRoom } from "./room.ts";

export const restoreRoom: NodeOperationRoom<"restore"> = {
  kind: "restore",
  phase: "revert",
  plan: { from: 20, to: 95 },
  doneByState: true,
  async run(ctx) {
    const dir = snapshotDir(ctx.paths, ctx.op.arg.snapshotId);
    ctx.engine.checkRevert?.(ctx.spec, ctx.paths, dir);  // a revert that cannot work leaves the VM running
    ctx.progress(20);
    ctx.markStarting();
    await ctx.stopEngine();
    ctx.fault("after-stop");
    ctx.progress(40);
    if (await ctx.engine.revert(ctx.spec, ctx.paths, dir, (p) => ctx.progress(40 + Math.round(p * 0.55)))) await ctx.attach();
    ctx.clearStoppedByItself();
  },
};
