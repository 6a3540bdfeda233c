// A node agent joins with the shared join token and receives its own credentials. A name already
// registered is taken only by the node that holds it: the join token alone would let anyone who has
// it (every node's operator) re-register another node's name and so receive that node's VMs.
import { randomBytes } from "node:crypto";
import type { Db } from "@vdi/db";
import { AppError } from "../../errors.ts";
import { hashSecret, secretMatches, type PresentedNodeCredentials } from "./node-credentials.ts";
import type { NodeCapabilities } from "./node-health.ts";

export interface RegisterNodeInput {
  joinToken: string;
  name: string;
  apiUrl: string;
  consoleUrl: string;
  totalCpus: number;
  totalMemoryMiB: number;
  capabilities: NodeCapabilities;
}

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
  if (!deps.nodeJoinToken || !secretMatches(hashSecret(deps.nodeJoinToken), input.joinToken)) {
    throw new AppError("UNAUTHENTICATED", { message: "Invalid join token" });
  }
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
  const existing = await deps.db.node.findUnique({ where: { name: input.name }, select: { id: true, secretHash: true } });
  if (existing) {
    if (!presented || presented.nodeId !== existing.id || !secretMatches(existing.secretHash, presented.secret)) {
      throw new AppError("CONFLICT", {
        message: `A node named "${input.name}" is already registered. Only that node can register again (with its current credentials); ` +
          "to replace it, have a platform administrator remove it first, or give this node another name (VDI_NODE_NAME)",
      });
    }
    // Compare-and-set on the old hash: two re-registrations racing with one secret cannot both win.
    const updated = await deps.db.node.updateMany({ where: { id: existing.id, secretHash: existing.secretHash }, data });
    if (updated.count !== 1) throw new AppError("CONFLICT", { message: `Node "${input.name}" was registered again meanwhile` });
    return { nodeId: existing.id, secret, consolePublicKeyPem: deps.consolePublicKeyPem };
  }
  try {
    const node = await deps.db.node.create({ data: { name: input.name, ...data } });
    return { nodeId: node.id, secret, consolePublicKeyPem: deps.consolePublicKeyPem };
  } catch (err) {
    // Another agent took the name between our look and our insert.
    if ((err as { code?: unknown }).code === "P2002") throw new AppError("CONFLICT", { message: `A node named "${input.name}" is already registered` });
    throw err;
  }
}
