import { authedProcedure } from "../../trpc.ts";
import { listVms } from "../../services/vm/list-vms.ts";

export const list = authedProcedure.query(({ ctx }) => listVms(ctx, ctx.actor));
