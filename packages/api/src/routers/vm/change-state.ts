// start, stop (shut down), power off, reboot and delete share one service; each is its own procedure.
import { authedProcedure } from "../../trpc.ts";
import { changeVmState, type VmStateAction } from "../../services/vm/change-vm-state.ts";
import { vmRefSchema } from "./vm.schema.ts";

const action = (name: VmStateAction) =>
  authedProcedure.input(vmRefSchema).mutation(({ ctx, input }) => changeVmState(ctx, ctx.actor, { vmId: input.vmId, action: name }));

export const start = action("start");
export const stop = action("stop");
export const powerOff = action("poweroff");
export const reboot = action("reboot");
export const pause = action("pause");
export const resume = action("resume");
export const save = action("save");
export const remove = action("delete");
