// The shape of a VM as pages see it: state, where it runs, what can be done now.
import type { Db } from "@vdi/db";
import { allowedActions, asActualState } from "./vm-state.ts";
import { isNodeUp, describeLastSeen } from "../node/node-health.ts";
import { consolesOf, traitsOf } from "@vdi/node-protocol";

// Node and template only: a VM's operations are many, and the view needs the latest one, which
// is the VM's lastOpId (withLastOperations reads those by id, never every operation of every VM).
export const vmViewInclude = {
  node: { select: { id: true, name: true, lastSeenAt: true } },
  template: { select: { id: true, title: true, slug: true, engine: true, consoles: true } },
};

type LastOperation = { id: string; kind: string; status: string; progress: number; error: string | null; createdAt: Date; finishedAt: Date | null };
type VmRow = NonNullable<Awaited<ReturnType<Db["vm"]["findFirst"]>>> & {
  node: { id: string; name: string; lastSeenAt: Date | null };
  template: { id: string; title: string; slug: string; engine: string; consoles: string };
};

/** Attaches each VM's latest operation: one bounded read of the rows' lastOpIds (a page binds at most its size). */
export async function withLastOperations<T extends VmRow>(db: Db, vms: T[]): Promise<Array<T & { lastOp: LastOperation | null }>> {
  const ids = vms.flatMap((v) => (v.lastOpId ? [v.lastOpId] : []));
  const ops = ids.length === 0 ? [] : await db.operation.findMany({
    where: { id: { in: ids } },
    select: { id: true, kind: true, status: true, progress: true, error: true, createdAt: true, finishedAt: true },
  });
  const byId = new Map(ops.map((o) => [o.id, o]));
  return vms.map((v) => ({ ...v, lastOp: (v.lastOpId && byId.get(v.lastOpId)) || null }));
}

/** A VM's place in the list (newest first): its creation time and id, so it outlives the VM. */
export function vmCursor(vm: { createdAt: Date; id: string }): string {
  return `${vm.createdAt.getTime().toString(36)}.${vm.id}`;
}

export function decodeVmCursor(cursor: string): { createdAt: Date; id: string } | null {
  const m = /^([0-9a-z]{1,12})\.([a-z0-9]{1,64})$/.exec(cursor);
  const ms = m ? parseInt(m[1]!, 36) : NaN;
  return m && Number.isSafeInteger(ms) ? { createdAt: new Date(ms), id: m[2]! } : null;
}

export function toVmView(vm: VmRow & { lastOp: LastOperation | null }, nodeDownAfterMs: number) {
  const nodeUp = isNodeUp(vm.node, nodeDownAfterMs);
  const traits = traitsOf(vm.template.engine);
  const op = vm.lastOp;
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
    // What the engine allows (the page offers what the API allows, never reasoning on a name).
    template: { ...vm.template, traits: traitsOf(vm.template.engine), consoles: consolesOf(vm.template.consoles) },
    operation: op && { id: op.id, kind: op.kind, status: op.status, progress: op.progress, error: op.error, createdAt: op.createdAt, finishedAt: op.finishedAt },
    // An engine without a disk (microVMs) makes no templates; one whose snapshots hold memory needs a running VM for them.
    actions: allowedActions(vm, { opInFlight, nodeUp, opKind: op?.kind }).filter((a) =>
      !(a === "template" && !traits.hasDisk) && !(a === "snapshot" && traits.snapshotsHoldMemory && vm.actualState !== "running" && vm.actualState !== "paused")),
    currentSnapshotId: vm.currentSnapshotId,
    shared: vm.shared,
    ownerId: vm.ownerId,
    cloneOf: vm.cloneOfVmId ? { vmId: vm.cloneOfVmId, snapshotId: vm.cloneOfSnapshotId, mode: vm.cloneMode } : null,
    createdAt: vm.createdAt,
    /** Pass it to vm.list to read the page after (or, with direction "before", before) this VM. */
    cursor: vmCursor(vm),
  };
}
export type VmView = ReturnType<typeof toVmView>;
