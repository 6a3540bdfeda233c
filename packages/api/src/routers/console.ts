import { authedProcedure, router } from "../trpc.ts";
import { openConsole } from "../services/console/open-console.ts";
import { vmRefSchema } from "./vm/vm.schema.ts";
import { consoleProtocolSchema } from "@vdi/node-protocol";

export const consoleRouter = router({
  open: authedProcedure
    .input(vmRefSchema.extend({ protocol: consoleProtocolSchema.optional() }))
    .mutation(({ ctx, input }) => openConsole(ctx, ctx.actor, input.vmId, input.protocol)),
});
