// Nodes as tenants see them: name, health and which engines run (no addresses, sizes, versions or secrets).
import type { Db } from "@vdi/db";
import { isNodeUp, parseCapabilities, describeLastSeen } from "./node-health.ts";

export async function listNodes(deps: { db: Db; nodeDownAfterMs: number }) {
  const nodes = await deps.db.node.findMany({ orderBy: { name: "asc" }, select: { id: true, name: true, lastSeenAt: true, capabilities: true } });
  return nodes.map((n) => ({
    id: n.id,
    name: n.name,
    up: isNodeUp(n, deps.nodeDownAfterMs),
    lastSeen: describeLastSeen(n),
    // Whether an engine runs is what a tenant needs (the create form, "node down"); why not, and versions, are the operator's.
    engines: Object.fromEntries(Object.entries(parseCapabilities(n.capabilities).engines).map(([name, e]) => [name, { available: e.available }])),
  }));
}
