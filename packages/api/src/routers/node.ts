// Nodes: what tenants see (health, engines), and platform admins' list, drain and remove.
import { z } from "zod";
import { adminProcedure, authedProcedure, router } from "../trpc.ts";
import { listNodes } from "../services/node/list-nodes.ts";
import { listAllNodes, removeNode, setNodeDrained } from "../services/node/manage-nodes.ts";

const nodeId = z.string().min(1).max(64).regex(/^[a-z0-9]+$/, "Invalid node id");

export const nodeRouter = router({
  list: authedProcedure.query(({ ctx }) => listNodes(ctx)),
  listAll: adminProcedure.query(({ ctx }) => listAllNodes(ctx)),
  setDrained: adminProcedure.input(z.object({ nodeId, drained: z.boolean() })).mutation(({ ctx, input }) => setNodeDrained(ctx.db, input)),
  remove: adminProcedure.input(z.object({ nodeId })).mutation(({ ctx, input }) => removeNode(ctx, input)),
});
