import { z } from "zod";
import { authedProcedure, router } from "../trpc.ts";
import { listTemplates } from "../services/template/list-templates.ts";
import { templateFromVm } from "../services/template/template-from-vm.ts";
import { vmIdSchema } from "./vm/vm.schema.ts";

export const templateRouter = router({
  list: authedProcedure.query(({ ctx }) => listTemplates(ctx.db, ctx.actor)),
  fromVm: authedProcedure
    .input(z.object({
      vmId: vmIdSchema,
      snapshotId: z.string().min(1).max(64).regex(/^[a-z0-9]+$/, "Invalid snapshot id").optional(),
      title: z.string().trim().min(1, "Give the template a name").max(80, "Template names are at most 80 characters").regex(/^[\w .:()-]+$/, "Use letters, digits, spaces and . _ : ( ) -"),
      scope: z.enum(["tenant", "global"]).default("tenant"),
    }))
    .mutation(({ ctx, input }) => templateFromVm(ctx, ctx.actor, input)),
});
