import { authedProcedure } from "../../trpc.ts";
import { getVm } from "../../services/vm/list-vms.ts";
import { vmRefSchema } from "./vm.schema.ts";

export const get = authedProcedure.input(vmRefSchema).query(({ ctx, input }) => getVm(ctx, ctx.actor, input.vmId));
