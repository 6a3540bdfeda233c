import { authedProcedure } from "../../trpc.ts";
import { createVm } from "../../services/vm/create-vm.ts";
import { createVmSchema } from "./vm.schema.ts";

export const create = authedProcedure.input(createVmSchema).mutation(({ ctx, input }) => createVm(ctx, ctx.actor, input));
