import { authedProcedure, router } from "../trpc.ts";
import { openConsole } from "../services/console/open-console.ts";
import { vmRefSchema } from "./vm/vm.schema.ts";

export const consoleRouter = router({
  open: authedProcedure.input(vmRefSchema).mutation(({ ctx, input }) => openConsole(ctx, ctx.actor, input.vmId)),
});
