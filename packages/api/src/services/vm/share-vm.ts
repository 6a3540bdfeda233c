// Sharing a VM within the tenant: its owner (or a tenant admin) lets the tenant's users see and use it.
import type { Db } from "@vdi/db";
import type { Actor } from "../../context.ts";
import { AppError } from "../../errors.ts";
import { bus, tenantTopic } from "../../lib/bus.ts";
import { mayManage, visibleVms } from "./vm-access.ts";

export async function shareVm(db: Db, actor: Actor, input: { vmId: string; shared: boolean }) {
  const vm = await db.vm.findFirst({ where: { id: input.vmId, ...visibleVms(actor) } });
  if (!vm) throw new AppError("NOT_FOUND", { message: "VM not found" });
  if (!mayManage(actor, vm)) throw new AppError("FORBIDDEN", { message: `Only the owner of "${vm.name}" or a tenant admin can share it` });
  await db.vm.update({ where: { id: vm.id }, data: { shared: input.shared } });
  bus().emit(tenantTopic(vm.tenantId));
  return { vmId: vm.id, shared: input.shared };
}
