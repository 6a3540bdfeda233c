// Nodes as tenants see them: name, health and engines (no addresses or secrets).
import type { Db } from "@vdi/db";
import { isNodeUp, parseCapabilities, describeLastSeen } from "./node-health.ts";

export async function listNodes(deps: { db: Db; nodeDownAfterMs: number }) {
  const nodes = await deps.db.node.findMany({ orderBy: { name: "asc" } });
  return nodes.map((n) => {
    const caps = parseCapabilities(n.capabilities);
    return {
      id: n.id,
      name: n.name,
      up: isNodeUp(n, deps.nodeDownAfterMs),
      lastSeen: describeLastSeen(n),
      totalCpus: n.totalCpus,
      totalMemoryMiB: n.totalMemoryMiB,
      engines: caps.engines,
    };
  });
}
