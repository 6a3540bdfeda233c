// A template made from a stopped VM or from a snapshot: the node flattens the disk into a new
// image (independent of the VM from then on); VMs created from it share that image as their base.
import type { Db } from "@vdi/db";
import type { Actor } from "../../context.ts";
import { AppError } from "../../errors.ts";
import { changeVmState } from "../vm/change-vm-state.ts";
import { mayManage, visibleVms } from "../vm/vm-access.ts";
import { traitsOf } from "@vdi/node-protocol";
import { templateIntent } from "../operation/template.ts";

export async function templateFromVm(
  deps: { db: Db; nodeDownAfterMs: number; ip: string | null },
  actor: Actor,
  input: { vmId: string; snapshotId?: string | undefined; title: string; scope: "tenant" | "global" },
) {
  if (input.scope === "global" && actor.role !== "admin") {
    throw new AppError("FORBIDDEN", { message: "Only platform admins make templates for every tenant" });
  }
  const vm = await deps.db.vm.findFirst({ where: { id: input.vmId, ...visibleVms(actor) }, include: { template: true } });
  if (!vm) throw new AppError("NOT_FOUND", { message: "VM not found" });
  if (!mayManage(actor, vm)) throw new AppError("FORBIDDEN", { message: `Only the owner of "${vm.name}" or a tenant admin can make a template from it` });
  if (!traitsOf(vm.template.engine).hasDisk) throw new AppError("INVALID_INPUT", { message: "Templates are made from QEMU VMs (a microVM can be cloned from a snapshot)" });
  if (input.snapshotId) {
    const snap = await deps.db.snapshot.findFirst({ where: { id: input.snapshotId, vmId: vm.id, tenantId: actor.tenantId } });
    if (!snap) throw new AppError("NOT_FOUND", { message: "Snapshot not found" });
    if (snap.status !== "ready") throw new AppError("INVALID_STATE", { message: `Snapshot "${snap.name}" is not ready` });
  } else if (vm.actualState !== "stopped") {
    throw new AppError("INVALID_STATE", { message: `Stop "${vm.name}" first, or make the template from one of its snapshots` });
  }
  let templateId = "";
  const r = await changeVmState(deps, actor, { vmId: vm.id, action: "template" }, async (tx) => {
    const arg = await templateIntent(tx, actor, { title: input.title, scope: input.scope, snapshotId: input.snapshotId, vm, base: vm.template });
    templateId = arg.templateId;
    return arg;
  });
  return { ...r, templateId };
}
