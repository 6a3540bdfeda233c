// The tenant's VMs, newest first.
import type { Db } from "@vdi/db";
import type { Actor } from "../../context.ts";
import { AppError } from "../../errors.ts";
import { toVmView, vmViewInclude } from "./vm-view.ts";
import { visibleVms } from "./vm-access.ts";

export async function listVms(deps: { db: Db; nodeDownAfterMs: number }, actor: Actor) {
  const rows = await deps.db.vm.findMany({ where: visibleVms(actor), include: vmViewInclude, orderBy: { createdAt: "desc" } });
  return rows.map((vm) => toVmView(vm, deps.nodeDownAfterMs));
}

export async function getVm(deps: { db: Db; nodeDownAfterMs: number }, actor: Actor, vmId: string) {
  // Another tenant's VM is reported as missing, never as forbidden: its existence is not ours to reveal.
  const vm = await deps.db.vm.findFirst({ where: { id: vmId, ...visibleVms(actor) }, include: vmViewInclude });
  if (!vm) throw new AppError("NOT_FOUND", { message: "VM not found" });
  return toVmView(vm, deps.nodeDownAfterMs);
}
