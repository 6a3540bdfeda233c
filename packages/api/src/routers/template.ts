import { authedProcedure, router } from "../trpc.ts";
import { listTemplates } from "../services/template/list-templates.ts";

export const templateRouter = router({
  list: authedProcedure.query(({ ctx }) => listTemplates(ctx.db, ctx.actor)),
});
