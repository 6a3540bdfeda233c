// Restart the guest in place (QEMU: a reset; microVM: a fresh boot); done when the VM runs again.
import type { NodeOperationRoom } from "./room.ts";

export const rebootRoom: NodeOperationRoom<"reboot"> = {
  kind: "reboot",
  phase: "live",
  plan: { from: 50, to: 50 },
  needsRunning: true,
  doneByState: true,
  async run(ctx) {
    const handle = ctx.handle();
    await ctx.engine.reboot(ctx.spec, ctx.paths, handle);
    const now = ctx.handle();
    if (!now || now.isClosed) await ctx.attach();
  },
};
