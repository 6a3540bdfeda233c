// Picks the node for a new VM: not drained, up, able to run the template, within each resource's
// overcommit, by the placement policy (placement.ts), and says why.
import type { Db } from "@vdi/db";
import { AppError } from "../../errors.ts";
import { describeLastSeen, isNodeUp, parseCapabilities } from "../node/node-health.ts";
import { engineNamed, traitsOf } from "@vdi/node-protocol";
import { choosePlacement, DEFAULT_PLACEMENT, type PlacementPolicy } from "./placement.ts";

/** The node for a new VM, and why (for the operation's log). */
export async function placeVm(db: Db, downAfterMs: number, want: { engine: string; image: string; cpus: number; memoryMiB: number; onlyNodeId?: string | undefined }, policy: PlacementPolicy = DEFAULT_PLACEMENT) {
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
  // Each node's capabilities, parsed once (they are JSON in the row).
  const caps = new Map(up.map((n) => [n.id, parseCapabilities(n.capabilities)]));
  const withEngine = up.filter((n) => caps.get(n.id)!.engines[engine]?.available);
  if (withEngine.length === 0) {
    const why = up.map((n) => `${n.name}: ${caps.get(n.id)!.engines[engine]?.reason ?? "engine not reported"}`);
    throw new AppError("NODE_UNAVAILABLE", { message: `${traitsOf(want.engine).unavailable} (${why.join("; ")})` });
  }
  const withImage = withEngine.filter((n) => caps.get(n.id)!.images.includes(want.image));
  if (withImage.length === 0) {
    throw new AppError("NODE_UNAVAILABLE", { message: `The template image "${want.image}" is not present on any node` });
  }
  // Summed by the database: the candidates' VMs are never loaded (a node may hold thousands).
  const used = await db.vm.groupBy({
    by: ["nodeId"],
    where: { desiredState: { not: "deleted" }, nodeId: { in: withImage.map((n) => n.id) } },
    _sum: { memoryMiB: true, cpus: true },
    _count: { _all: true },
  });
  const usedOn = new Map(used.map((u) => [u.nodeId, u]));
  const facts = withImage.map((n) => ({
    node: n, id: n.id, name: n.name, drained: false, down: null, engineMissing: null, hasImage: true,
    totalCpus: n.totalCpus, totalMemoryMiB: n.totalMemoryMiB,
    usedCpus: usedOn.get(n.id)?._sum.cpus ?? 0, usedMemoryMiB: usedOn.get(n.id)?._sum.memoryMiB ?? 0, vms: usedOn.get(n.id)?._count._all ?? 0,
  }));
  const placed = choosePlacement(facts, { engine, image: want.image, cpus: want.cpus, memoryMiB: want.memoryMiB }, policy);
  // The nodes the filters above left out are part of the explanation too.
  const left = [
    ...nodes.filter((n) => n.drainedAt !== null).map((n) => `${n.name}: drained for maintenance`),
    ...open.filter((n) => !isNodeUp(n, downAfterMs)).map((n) => `${n.name}: down (${describeLastSeen(n)})`),
    ...up.filter((n) => !withEngine.includes(n)).map((n) => `${n.name}: no ${engine} engine (${caps.get(n.id)!.engines[engine]?.reason ?? "not reported"})`),
    ...withEngine.filter((n) => !withImage.includes(n)).map((n) => `${n.name}: no image "${want.image}"`),
  ];
  if (!placed.chosen) throw new AppError("NO_CAPACITY", { message: `No node has room for this VM (${placed.summary})` });
  return { node: placed.chosen.node, explanation: `placement: ${[...placed.reasons, ...left].join("; ")}`.slice(0, 2000) };
}
