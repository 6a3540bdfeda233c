// Start, stop, reboot or delete a VM: record the wish and an Operation; the node carries it out.
import type { Db } from "@vdi/db";
import type { Actor } from "../../context.ts";
import { AppError } from "../../errors.ts";
import { bus, nodeTopic, tenantTopic } from "../../lib/bus.ts";
import { describeLastSeen, isNodeUp } from "../node/node-health.ts";
import { allowedActions, DESIRED_AFTER, type VmAction } from "./vm-state.ts";
import { mayManage, visibleVms } from "./vm-access.ts";

export type VmStateAction = Exclude<VmAction, "console">;
type Tx = Parameters<Parameters<Db["$transaction"]>[0]>[0];

/** Extra work inside the same transaction (e.g. recording a snapshot); returns the op's argument. */
export type PrepareOp = (tx: Tx, vm: { id: string; name: string; tenantId: string; templateId: string; actualState: string; currentSnapshotId: string | null }) => Promise<string | null>;

export async function changeVmState(
  deps: { db: Db; nodeDownAfterMs: number; ip: string | null },
  actor: Actor,
  input: { vmId: string; action: VmStateAction; desired?: "running" | "stopped" },
  prepare?: PrepareOp,
) {
  const { db } = deps;
  const result = await db.$transaction(async (tx) => {
    const vm = await tx.vm.findFirst({
      where: { id: input.vmId, ...visibleVms(actor) },
      include: { node: true, operations: { orderBy: { createdAt: "desc" }, take: 1 } },
    });
    if (!vm) throw new AppError("NOT_FOUND", { message: "VM not found" });
    const nodeUp = isNodeUp(vm.node, deps.nodeDownAfterMs);
    if (!nodeUp) {
      throw new AppError("NODE_UNAVAILABLE", { message: `Cannot ${input.action} "${vm.name}": ${describeLastSeen(vm.node)}` });
    }
    const last = vm.operations[0];
    const opInFlight = !!last && (last.status === "pending" || last.status === "running");
    if (!allowedActions(vm, { opInFlight, nodeUp }).includes(input.action)) {
      const why = opInFlight ? `an operation (${last!.kind}) is still in progress` : `it is ${vm.actualState}`;
      throw new AppError("INVALID_STATE", { message: `Cannot ${input.action} "${vm.name}": ${why}` });
    }
    if (opInFlight) {
      await tx.operation.update({
        where: { id: last!.id },
        data: { status: "failed", error: `Superseded by ${input.action}`, finishedAt: new Date() },
      });
    }
    if (input.action === "delete" && !mayManage(actor, vm)) {
      throw new AppError("FORBIDDEN", { message: `Only the owner of "${vm.name}" or a tenant admin can delete it` });
    }
    if (input.action === "delete") {
      // Linked clones read their disk from this VM's snapshot layers.
      const clones = await tx.vm.findMany({ where: { cloneOfVmId: vm.id, cloneMode: "linked", desiredState: { not: "deleted" } }, select: { name: true } });
      if (clones.length) {
        throw new AppError("INVALID_STATE", { message: `Cannot delete "${vm.name}": linked clone${clones.length > 1 ? "s" : ""} ${clones.map((c) => `"${c.name}"`).join(", ")} use${clones.length > 1 ? "" : "s"} its disk; delete ${clones.length > 1 ? "them" : "it"} first` });
      }
    }
    const arg = prepare ? await prepare(tx, vm) : null;
    const op = await tx.operation.create({
      data: { kind: input.action, status: "pending", vmId: vm.id, vmName: vm.name, tenantId: actor.tenantId, userId: actor.userId, nodeId: vm.nodeId },
    });
    const desired = input.desired ?? DESIRED_AFTER[input.action];
    await tx.vm.update({
      where: { id: vm.id },
      data: {
        desiredState: desired ?? vm.desiredState,
        actualState: input.action === "delete" ? "deleting" : vm.actualState,
        generation: { increment: 1 },
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
