// Picks the node for a new VM: not drained, up, able to run the template, with the most free memory.
import type { Db } from "@vdi/db";
import { AppError } from "../../errors.ts";
import { describeLastSeen, isNodeUp, parseCapabilities } from "../node/node-health.ts";
import { engineNamed, traitsOf } from "@vdi/node-protocol";

export async function placeVm(db: Db, downAfterMs: number, want: { engine: string; image: string; memoryMiB: number; onlyNodeId?: string | undefined }) {
  const nodes = await db.node.findMany({ where: want.onlyNodeId ? { id: want.onlyNodeId } : {} });
  if (nodes.length === 0) throw new AppError("NODE_UNAVAILABLE", { message: "No hypervisor node is registered yet" });
  // A drained node takes nothing new, clones of its VMs included (they would have to run there).
  const open = nodes.filter((n) => n.drainedAt === null);
  if (open.length === 0) {
    throw new AppError("NODE_UNAVAILABLE", { message: want.onlyNodeId
      ? `Node ${nodes[0]!.name} is drained for maintenance: it takes no new VMs (clones and VMs of its templates run only there)`
      : "Every hypervisor node is drained for maintenance" });
  }
  const up = open.filter((n) => isNodeUp(n, downAfterMs));
  if (up.length === 0) {
    throw new AppError("NODE_UNAVAILABLE", { message: `All hypervisor nodes are down (${open.map((n) => describeLastSeen(n)).join("; ")})` });
  }
  const engine = engineNamed(want.engine) ?? want.engine;
  const withEngine = up.filter((n) => parseCapabilities(n.capabilities).engines[engine]?.available);
  if (withEngine.length === 0) {
    const why = up.map((n) => `${n.name}: ${parseCapabilities(n.capabilities).engines[engine]?.reason ?? "engine not reported"}`);
    throw new AppError("NODE_UNAVAILABLE", { message: `${traitsOf(want.engine).unavailable} (${why.join("; ")})` });
  }
  const withImage = withEngine.filter((n) => parseCapabilities(n.capabilities).images.includes(want.image));
  if (withImage.length === 0) {
    throw new AppError("NODE_UNAVAILABLE", { message: `The template image "${want.image}" is not present on any node` });
  }
  // Summed by the database: the candidates' VMs are never loaded (a node may hold thousands).
  const used = await db.vm.groupBy({
    by: ["nodeId"],
    where: { desiredState: { not: "deleted" }, ...(want.onlyNodeId ? { nodeId: want.onlyNodeId } : {}) },
    _sum: { memoryMiB: true },
  });
  const usedOn = new Map(used.map((u) => [u.nodeId, u._sum.memoryMiB ?? 0]));
  const free = (n: (typeof withImage)[number]) => n.totalMemoryMiB - (usedOn.get(n.id) ?? 0);
  const best = withImage.map((n) => ({ n, free: free(n) })).sort((a, b) => b.free - a.free)[0]!;
  if (best.free < want.memoryMiB) {
    throw new AppError("NO_CAPACITY", { message: `No node has ${want.memoryMiB} MiB of memory free (most free: ${best.free} MiB)` });
  }
  return best.n;
}
