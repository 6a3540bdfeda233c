// Export the VM's disk (or one of its snapshots) as a new template image.
import { snapshotDir } from "../../engines/engine.ts";
import type { NodeOperationRoom } from "./room.ts";

export const templateRoom: NodeOperationRoom<"template"> = {
  kind: "template",
  phase: "live",
  plan: { from: 5, to: 99 },
  cleanupOnFailure: true,
  run(ctx) {
    const { image, title, snapshotId } = ctx.op.arg;
    return ctx.storage.exportImage(ctx.spec, ctx.paths, snapshotId ? snapshotDir(ctx.paths, snapshotId) : null, { image, title }, ctx.live(), (p) => {
      ctx.fault("during-copy");
      ctx.progress(p);
    });
  },
};
