// A node agent joins with the shared join token and receives its own credentials.
import { randomBytes, timingSafeEqual, createHash } from "node:crypto";
import type { Db } from "@vdi/db";
import { AppError } from "../../errors.ts";
import { hashSecret } from "../../trpc.ts";
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

function sameSecret(a: string, b: string): boolean {
  const ha = createHash("sha256").update(a).digest();
  const hb = createHash("sha256").update(b).digest();
  return timingSafeEqual(ha, hb);
}

export async function registerNode(deps: { db: Db; nodeJoinToken: string; consolePublicKeyPem: string }, input: RegisterNodeInput) {
  if (!deps.nodeJoinToken || !sameSecret(input.joinToken, deps.nodeJoinToken)) {
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
  // Re-registering under the same name rotates the secret and keeps the node's VMs.
  const node = await deps.db.node.upsert({ where: { name: input.name }, create: { name: input.name, ...data }, update: data });
  return { nodeId: node.id, secret, consolePublicKeyPem: deps.consolePublicKeyPem };
}
