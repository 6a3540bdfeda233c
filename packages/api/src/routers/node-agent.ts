// Procedures node agents call (not users): join, then sync. Their inputs are the wire contract
// (@vdi/node-protocol), which the node checks our answers against.
import { nodeWire } from "@vdi/node-protocol";
import { nodeProcedure, publicProcedure, router } from "../trpc.ts";
import { registerNode } from "../services/node/register-node.ts";
import { syncNode } from "../services/node/sync-node.ts";
import { consoleAccessFor } from "../services/node/console-access.ts";
import { nodeCredentialsOf } from "../services/node/node-credentials.ts";

export const nodeAgentRouter = router({
  register: publicProcedure
    .input(nodeWire.register.input)
    // A node re-registering its own name proves who it is with its current credentials, if it has them.
    .mutation(({ ctx, input }) => registerNode({ ...ctx, consolePublicKeyPem: ctx.consoleSigner.publicKeyPem }, input, nodeCredentialsOf(ctx.headers.get("authorization")))),
  sync: nodeProcedure
    .input(nodeWire.sync.input)
    .mutation(({ ctx, input, signal }) => syncNode({ db: ctx.db, consolePublicKeyPem: ctx.consoleSigner.publicKeyPem }, ctx.node.id, input, signal)),
  /** Who may open each VM's console here: the gateway refuses other users' tokens (docs/console-security.md). */
  consoleAccess: nodeProcedure.query(({ ctx }) => consoleAccessFor(ctx.db, ctx.node.id)),
});
