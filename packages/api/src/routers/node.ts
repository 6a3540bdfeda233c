import { authedProcedure, router } from "../trpc.ts";
import { listNodes } from "../services/node/list-nodes.ts";

export const nodeRouter = router({
  list: authedProcedure.query(({ ctx }) => listNodes(ctx)),
});
