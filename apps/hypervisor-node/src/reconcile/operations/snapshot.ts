// Take a snapshot: disk layer and, with RAM, memory and device state, into its folder.
import { snapshotDir } from "../../engines/engine.ts";
import type { NodeOperationRoom } from "./room.ts";

export const snapshotRoom: NodeOperationRoom<"snapshot"> = {
  kind: "snapshot",
  phase: "live",
  plan: { from: 5, to: 99 },
  cleanupOnFailure: true,
  run: (ctx) => ctx.engine.snapshot(ctx.paths, ctx.handle(), snapshotDir(ctx.paths, ctx.op.arg.snapshotId), {
    withRam: ctx.op.arg.withRam,
    progress: ctx.progress,
    size: { cpus: ctx.spec.cpus, memoryMiB: ctx.spec.memoryMiB },
  }),
};
