import { authedProcedure } from "../../trpc.ts";
import { listVms } from "../../services/vm/list-vms.ts";
import { listVmsSchema } from "./vm.schema.ts";

/** One page of the VMs the caller may see, newest first (without input: the first page). */
export const list = authedProcedure.input(listVmsSchema).query(({ ctx, input }) => listVms(ctx, ctx.actor, input ?? {}));
