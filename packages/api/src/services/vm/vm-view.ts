// The shape of a VM as pages see it: state, where it runs, what can be done now.
import type { Db } from "@vdi/db";
import { allowedActions, asActualState } from "./vm-state.ts";
import { isNodeUp, describeLastSeen } from "../node/node-health.ts";

export const vmViewInclude = {
  node: { select: { id: true, name: true, lastSeenAt: true } },
  template: { select: { id: true, title: true, slug: true, engine: true } },
  operations: { orderBy: { createdAt: "desc" as const }, take: 1 },
};

type VmRow = NonNullable<Awaited<ReturnType<Db["vm"]["findFirst"]>>> & {
  node: { id: string; name: string; lastSeenAt: Date | null };
  template: { id: string; title: string; slug: string; engine: string };
  operations: { id: string; kind: string; status: string; progress: number; error: string | null; createdAt: Date; finishedAt: Date | null }[];
};

export function toVmView(vm: VmRow, nodeDownAfterMs: number) {
  const nodeUp = isNodeUp(vm.node, nodeDownAfterMs);
  const op = vm.operations[0] ?? null;
  const opInFlight = op !== null && (op.status === "pending" || op.status === "running");
  return {
    id: vm.id,
    name: vm.name,
    cpus: vm.cpus,
    memoryMiB: vm.memoryMiB,
    diskGiB: vm.diskGiB,
    macAddress: vm.macAddress,
    desiredState: vm.desiredState,
    state: nodeUp ? asActualState(vm.actualState) : "unknown",
    stateReason: nodeUp ? vm.stateReason : `The node is down (${describeLastSeen(vm.node)})`,
    node: { id: vm.node.id, name: vm.node.name, up: nodeUp },
    template: vm.template,
    operation: op && { id: op.id, kind: op.kind, status: op.status, progress: op.progress, error: op.error, createdAt: op.createdAt, finishedAt: op.finishedAt },
    // MicroVMs have no disk: their snapshots need a running VM; they cannot become templates or grow a disk.
    actions: allowedActions(vm, { opInFlight, nodeUp }).filter((a) =>
      vm.template.engine !== "kvm" || !(a === "template" || (a === "snapshot" && vm.actualState !== "running" && vm.actualState !== "paused"))),
    currentSnapshotId: vm.currentSnapshotId,
    shared: vm.shared,
    ownerId: vm.ownerId,
    cloneOf: vm.cloneOfVmId ? { vmId: vm.cloneOfVmId, snapshotId: vm.cloneOfSnapshotId, mode: vm.cloneMode } : null,
    createdAt: vm.createdAt,
  };
}
export type VmView = ReturnType<typeof toVmView>;
