// Templates: the ones a tenant may use, making one from a VM, and platform admins' catalogue.
import { z } from "zod";
import { adminProcedure, authedProcedure, router } from "../trpc.ts";
import { listTemplates } from "../services/template/list-templates.ts";
import { templateFromVm } from "../services/template/template-from-vm.ts";
import { listAllTemplates, setTemplateRetired, setTemplateVisibility } from "../services/template/manage-templates.ts";
import { vmIdSchema } from "./vm/vm.schema.ts";

const templateId = z.string().min(1).max(64).regex(/^[a-z0-9]+$/, "Invalid template id");

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
  // Platform administrators.
  listAll: adminProcedure.query(({ ctx }) => listAllTemplates(ctx.db)),
  setVisibility: adminProcedure
    .input(z.object({ templateId, tenantId: z.string().min(1).max(64).regex(/^[a-z0-9]+$/, "Invalid tenant id").nullable() }))
    .mutation(({ ctx, input }) => setTemplateVisibility(ctx.db, input)),
  setRetired: adminProcedure.input(z.object({ templateId, retired: z.boolean() })).mutation(({ ctx, input }) => setTemplateRetired(ctx.db, input)),
});
