// Start, stop, reboot or delete a VM: record the wish and an Operation; the node carries it out.
import type { Db } from "@vdi/db";
import type { Actor } from "../../context.ts";
import { AppError } from "../../errors.ts";
import { bus, nodeTopic, tenantTopic } from "../../lib/bus.ts";
import { describeLastSeen, isNodeUp } from "../node/node-health.ts";
import { allowedActions, DESIRED_AFTER, type VmAction } from "./vm-state.ts";
import { mayManage, nameVms, visibleVms } from "./vm-access.ts";
import { lockTenantQuota } from "../tenant/quota.ts";
import { encodeOperationArg, tryDecodeOperation, type OperationArg } from "@vdi/node-protocol";
import { supersedeOperation } from "../operation/rooms.ts";
import type { IntentVm, Tx } from "../operation/room.ts";

export type VmStateAction = Exclude<VmAction, "console">;

/**
 * The operation's intent (its kind's room, services/operation/): what the action records in its
 * transaction (a snapshot row, say), returning the operation's argument.
 */
export type PrepareOp<K extends VmStateAction> = (tx: Tx, vm: IntentVm) => Promise<OperationArg<K>>;

export async function changeVmState<K extends VmStateAction>(
  deps: { db: Db; nodeDownAfterMs: number; ip: string | null },
  actor: Actor,
  input: { vmId: string; action: K; desired?: "running" | "stopped" },
  prepare?: PrepareOp<K>,
) {
  const { db } = deps;
  const result = await db.$transaction(async (tx) => {
    const vm = await tx.vm.findFirst({
      where: { id: input.vmId, ...visibleVms(actor) },
      include: { node: true, operations: { orderBy: { createdAt: "desc" }, take: 1 } },
    });
    if (!vm) throw new AppError("NOT_FOUND", { message: "VM not found" });
    // Compare-and-set on the generation: of two actions at the same moment one wins, the other is
    // told (on PostgreSQL this also holds the row until commit).
    const claimed = await tx.vm.updateMany({ where: { id: vm.id, generation: vm.generation }, data: { generation: { increment: 1 } } });
    if (claimed.count === 0) throw new AppError("CONFLICT", { message: `"${vm.name}" changed at the same moment: try again` });
    const nodeUp = isNodeUp(vm.node, deps.nodeDownAfterMs);
    if (!nodeUp) {
      throw new AppError("NODE_UNAVAILABLE", { message: `Cannot ${input.action} "${vm.name}": ${describeLastSeen(vm.node)}` });
    }
    const last = vm.operations[0];
    const opInFlight = !!last && (last.status === "pending" || last.status === "running");
    if (!allowedActions(vm, { opInFlight, nodeUp, opKind: last?.kind }).includes(input.action)) {
      const why = opInFlight ? `an operation (${last!.kind}) is still in progress` : `it is ${vm.actualState}`;
      throw new AppError("INVALID_STATE", { message: `Cannot ${input.action} "${vm.name}": ${why}` });
    }
    if (opInFlight) {
      await tx.operation.update({
        where: { id: last!.id },
        data: { status: "failed", error: `Superseded by ${input.action}`, finishedAt: new Date() },
      });
      // What the superseded operation would have recorded on success goes with it (its room).
      const superseded = vm.lastOpId === last!.id ? tryDecodeOperation({ id: last!.id, kind: last!.kind, arg: vm.lastOpArg }) : null;
      if (superseded) await supersedeOperation(tx, vm.id, superseded);
    }
    if (input.action !== "delete") {
      // A full clone of the VM's current disk reads it right now: nothing may change it meanwhile.
      const copying = await tx.vm.findFirst({ where: { cloneOfVmId: vm.id, cloneOfSnapshotId: null, actualState: "provisioning", desiredState: { not: "deleted" } }, select: { name: true } });
      if (copying) throw new AppError("INVALID_STATE", { message: `Cannot ${input.action} "${vm.name}": its disk is being copied into "${copying.name}"` });
    }
    if (input.action === "delete" && !mayManage(actor, vm)) {
      throw new AppError("FORBIDDEN", { message: `Only the owner of "${vm.name}" or a tenant admin can delete it` });
    }
    if (input.action === "delete") {
      // Under the tenant's lock, as clones are created: a clone made at this moment either is
      // seen here (and the delete refused) or sees this VM going (and is refused).
      await lockTenantQuota(tx, vm.tenantId);
      // Linked clones read their disk from this VM's snapshot layers.
      const clones = await tx.vm.findMany({ where: { cloneOfVmId: vm.id, cloneMode: "linked", desiredState: { not: "deleted" } }, select: { name: true, ownerId: true, tenantId: true, shared: true } });
      if (clones.length) {
        // Other members' private VMs are counted, not named.
        throw new AppError("INVALID_STATE", { message: `Cannot delete "${vm.name}": linked clone${clones.length > 1 ? "s" : ""} ${nameVms(actor, clones, (c) => `"${c.name}"`)} use${clones.length > 1 ? "" : "s"} its disk; delete ${clones.length > 1 ? "them" : "it"} first` });
      }
    }
    const arg = prepare ? encodeOperationArg(input.action, await prepare(tx, vm)) : null;
    const op = await tx.operation.create({
      data: { kind: input.action, status: "pending", vmId: vm.id, vmName: vm.name, tenantId: actor.tenantId, userId: actor.userId, nodeId: vm.nodeId },
    });
    const desired = input.desired ?? DESIRED_AFTER[input.action];
    await tx.vm.update({
      where: { id: vm.id },
      data: {
        desiredState: desired ?? vm.desiredState,
        actualState: input.action === "delete" ? "deleting" : vm.actualState,
        lastOpId: op.id,
        lastOpKind: input.action,
        lastOpArg: arg,
      },
    });
    return { vm, op };
  });
  bus().emit(nodeTopic(result.vm.nodeId));
  bus().emit(tenantTopic(actor.tenantId));
  return { operationId: result.op.id };
}
