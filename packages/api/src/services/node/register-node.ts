// A node agent joins with a join token and receives its own credentials (docs/multi-node.md):
// a one-time token a platform admin made for this host, or the portal's shared token (the
// embedded single-host default). A name already registered is taken only by the node that holds
// it, which proves it with its current credentials and needs no token again (a one-time token is
// spent at the first join): a token alone would let anyone who has it re-register another node's
// name and so receive that node's VMs.
import { randomBytes } from "node:crypto";
import type { Db } from "@vdi/db";
import { AppError } from "../../errors.ts";
import { hashSecret, secretMatches, type PresentedNodeCredentials } from "./node-credentials.ts";
import type { NodeCapabilities } from "./node-health.ts";
import { consumeJoinToken } from "./join-tokens.ts";

export interface RegisterNodeInput {
  joinToken: string;
  name: string;
  apiUrl: string;
  consoleUrl: string;
  totalCpus: number;
  totalMemoryMiB: number;
  capabilities: NodeCapabilities;
}

const invalidToken = () => new AppError("UNAUTHENTICATED", { message: "Invalid join token" });

/**
 * Registers a new node, or re-registers an existing one that proves it is that node (its current
 * credentials, as the agent presents them when it has lost track of whether they are still good).
 * The secret is rotated either way; the node keeps its id and its VMs.
 */
export async function registerNode(
  deps: { db: Db; nodeJoinToken: string; consolePublicKeyPem: string },
  input: RegisterNodeInput,
  presented: PresentedNodeCredentials | null,
) {
  const secret = randomBytes(32).toString("base64url");
  const data = {
    apiUrl: input.apiUrl,
    consoleUrl: input.consoleUrl,
    totalCpus: input.totalCpus,
    totalMemoryMiB: input.totalMemoryMiB,
    capabilities: JSON.stringify(input.capabilities),
    secretHash: hashSecret(secret),
    lastSeenAt: new Date(),
  };
  const shared = !!deps.nodeJoinToken && secretMatches(hashSecret(deps.nodeJoinToken), input.joinToken);
  const existing = await deps.db.node.findUnique({ where: { name: input.name }, select: { id: true, secretHash: true } });
  if (existing && presented && presented.nodeId === existing.id && secretMatches(existing.secretHash, presented.secret)) {
    // Compare-and-set on the old hash: two re-registrations racing with one secret cannot both win.
    const updated = await deps.db.node.updateMany({ where: { id: existing.id, secretHash: existing.secretHash }, data });
    if (updated.count !== 1) throw new AppError("CONFLICT", { message: `Node "${input.name}" was registered again meanwhile` });
    return { nodeId: existing.id, secret, consolePublicKeyPem: deps.consolePublicKeyPem };
  }
  try {
    // The token is spent with the new node, in one transaction: a name conflict leaves it unspent.
    return await deps.db.$transaction(async (tx) => {
      const tokenId = shared ? null : await consumeJoinToken(tx, input.joinToken);
      if (!shared && !tokenId) throw invalidToken();
      if (existing) {
        throw new AppError("CONFLICT", {
          message: `A node named "${input.name}" is already registered. Only that node can register again (with its current credentials); ` +
            "to replace it, have a platform administrator remove it first, or give this node another name (VDI_NODE_NAME)",
        });
      }
      const node = await tx.node.create({ data: { name: input.name, ...data } });
      if (tokenId) await tx.nodeJoinToken.update({ where: { id: tokenId }, data: { usedByNodeId: node.id } });
      return { nodeId: node.id, secret, consolePublicKeyPem: deps.consolePublicKeyPem };
    });
  } catch (err) {
    // Another agent took the name between our look and our insert.
    if ((err as { code?: unknown }).code === "P2002") throw new AppError("CONFLICT", { message: `A node named "${input.name}" is already registered` });
    throw err;
  }
}
