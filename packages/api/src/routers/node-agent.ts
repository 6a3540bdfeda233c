// Procedures node agents call (not users): join, then sync.
import { z } from "zod";
import { nodeProcedure, publicProcedure, router } from "../trpc.ts";
import { registerNode } from "../services/node/register-node.ts";
import { syncInputSchema, syncNode } from "../services/node/sync-node.ts";
import { nodeCapabilitiesSchema } from "../services/node/node-health.ts";
import { consoleAccessFor } from "../services/node/console-access.ts";
import { nodeCredentialsOf } from "../services/node/node-credentials.ts";

const registerSchema = z.object({
  joinToken: z.string().min(1).max(256),
  name: z.string().max(63).regex(/^[a-z0-9][a-z0-9-]{0,62}$/, "Node names use lowercase letters, digits and hyphens"),
  apiUrl: z.string().url().max(500),
  consoleUrl: z.string().url().max(500).regex(/^wss?:\/\//, "consoleUrl must be ws:// or wss://"),
  totalCpus: z.number().int().min(0).max(4096),
  totalMemoryMiB: z.number().int().min(0).max(64 * 1024 * 1024),
  capabilities: nodeCapabilitiesSchema,
});

export const nodeAgentRouter = router({
  register: publicProcedure
    .input(registerSchema)
    // A node re-registering its own name proves who it is with its current credentials, if it has them.
    .mutation(({ ctx, input }) => registerNode({ ...ctx, consolePublicKeyPem: ctx.consoleSigner.publicKeyPem }, input, nodeCredentialsOf(ctx.headers.get("authorization")))),
  sync: nodeProcedure
    .input(syncInputSchema)
    .mutation(({ ctx, input, signal }) => syncNode({ db: ctx.db, consolePublicKeyPem: ctx.consoleSigner.publicKeyPem }, ctx.node.id, input, signal)),
  /** Who may open each VM's console here: the gateway refuses other users' tokens (docs/console-security.md). */
  consoleAccess: nodeProcedure.query(({ ctx }) => consoleAccessFor(ctx.db, ctx.node.id)),
});
