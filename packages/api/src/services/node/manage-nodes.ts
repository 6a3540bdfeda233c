// Platform admins' view of the nodes: every detail with health and load; drain (placement skips
// the node, its VMs keep running), undrain, and remove a node nothing lives on any more.
import type { Db } from "@vdi/db";
import { AppError } from "../../errors.ts";
import { describeLastSeen, isNodeUp, parseCapabilities } from "./node-health.ts";

export async function listAllNodes(deps: { db: Db; nodeDownAfterMs: number }) {
  // Counted and summed by the database, per node: no node's VMs are loaded.
  const [nodes, all, live] = await Promise.all([
    deps.db.node.findMany({ orderBy: { name: "asc" } }),
    deps.db.vm.groupBy({ by: ["nodeId"], _count: { _all: true } }),
    deps.db.vm.groupBy({ by: ["nodeId"], where: { desiredState: { not: "deleted" } }, _sum: { cpus: true, memoryMiB: true } }),
  ]);
  const counts = new Map(all.map((g) => [g.nodeId, g._count._all]));
  const sums = new Map(live.map((g) => [g.nodeId, g._sum]));
  return nodes.map((n) => {
    const used = sums.get(n.id);
    return {
      id: n.id, name: n.name, apiUrl: n.apiUrl, consoleUrl: n.consoleUrl,
      up: isNodeUp(n, deps.nodeDownAfterMs), lastSeen: describeLastSeen(n), lastSeenAt: n.lastSeenAt,
      drained: n.drainedAt !== null, drainedAt: n.drainedAt,
      totalCpus: n.totalCpus, totalMemoryMiB: n.totalMemoryMiB,
      vms: counts.get(n.id) ?? 0, usedCpus: used?.cpus ?? 0, usedMemoryMiB: used?.memoryMiB ?? 0,
      capabilities: parseCapabilities(n.capabilities),
      createdAt: n.createdAt,
    };
  });
}

async function requireNode(db: Db, nodeId: string) {
  const node = await db.node.findUnique({ where: { id: nodeId } });
  if (!node) throw new AppError("NOT_FOUND", { message: "Node not found" });
  return node;
}

export async function setNodeDrained(db: Db, input: { nodeId: string; drained: boolean }) {
  const node = await requireNode(db, input.nodeId);
  // Draining again keeps the first time (it says since when the node takes nothing new).
  if (input.drained !== (node.drainedAt !== null)) {
    await db.node.update({ where: { id: node.id }, data: { drainedAt: input.drained ? new Date() : null } });
  }
  return { nodeId: node.id, drained: input.drained };
}

/** Forgets a node: its credentials stop working (the agent must join again). Refused while anything lives on it. */
export async function removeNode(deps: { db: Db; nodeDownAfterMs: number }, input: { nodeId: string }) {
  const { db } = deps;
  const node = await requireNode(db, input.nodeId);
  return db.$transaction(async (tx) => {
    // A node that is down never confirms the deletes it was sent: on a node being removed, those
    // VMs are gone with it (otherwise a dead node could never be removed).
    if (!isNodeUp(node, deps.nodeDownAfterMs)) await tx.vm.deleteMany({ where: { nodeId: node.id, desiredState: "deleted" } });
    // Every VM row counts, deleted ones too until the node has removed their files and the row is gone.
    const vms = await tx.vm.count({ where: { nodeId: node.id } });
    if (vms > 0) throw new AppError("INVALID_STATE", { message: `Node ${node.name} still has ${vms} VM${vms > 1 ? "s" : ""}: drain it and move or delete them first` });
    // Templates made from a VM have their image only on the node that made them.
    const templates = await tx.template.findMany({ where: { nodeId: node.id, retiredAt: null }, select: { title: true } });
    if (templates.length) {
      throw new AppError("INVALID_STATE", { message: `Templates ${templates.map((t) => `"${t.title}"`).join(", ")} have their image only on ${node.name}: retire them first` });
    }
    // A VM placed meanwhile makes the delete fail on the foreign key (Vm.nodeId is Restrict): told as a conflict.
    const removed = await tx.node.deleteMany({ where: { id: node.id } }).catch((e: unknown) => {
      throw new AppError("CONFLICT", { message: `Node ${node.name} got a VM at the same moment: try again`, cause: e });
    });
    if (removed.count === 0) throw new AppError("NOT_FOUND", { message: "Node not found" });
    return { nodeId: node.id };
  });
}
