// Resize: CPUs and memory of a stopped VM, and growing its disk (a running QEMU VM grows online).
import type { Db } from "@vdi/db";
import type { Actor } from "../../context.ts";
import { AppError } from "../../errors.ts";
import { changeVmState } from "./change-vm-state.ts";
import { lockTenantQuota } from "../tenant/quota.ts";
import { visibleVms } from "./vm-access.ts";

export const MAX_DISK_GIB = 1024;

export async function resizeVm(
  deps: { db: Db; nodeDownAfterMs: number; ip: string | null },
  actor: Actor,
  input: { vmId: string; cpus?: number | undefined; memoryMiB?: number | undefined; diskGiB?: number | undefined },
) {
  const vm = await deps.db.vm.findFirst({ where: { id: input.vmId, ...visibleVms(actor) }, include: { template: true } });
  if (!vm) throw new AppError("NOT_FOUND", { message: "VM not found" });
  const cpus = input.cpus ?? vm.cpus;
  const memoryMiB = input.memoryMiB ?? vm.memoryMiB;
  const diskGiB = input.diskGiB ?? vm.diskGiB;
  if (cpus === vm.cpus && memoryMiB === vm.memoryMiB && diskGiB === vm.diskGiB) {
    throw new AppError("INVALID_INPUT", { message: "Nothing to change: give new CPUs, memory or disk size" });
  }
  if ((cpus !== vm.cpus || memoryMiB !== vm.memoryMiB) && vm.actualState !== "stopped") {
    throw new AppError("INVALID_STATE", { message: `Stop "${vm.name}" to change its CPUs or memory (it is ${vm.actualState})` });
  }
  const t = vm.template;
  if (cpus < 1 || cpus > t.maxCpus) throw new AppError("INVALID_INPUT", { message: `CPUs must be between 1 and ${t.maxCpus} for ${t.title}` });
  if (memoryMiB < t.minMemoryMiB || memoryMiB > t.maxMemoryMiB) {
    throw new AppError("INVALID_INPUT", { message: `Memory must be between ${t.minMemoryMiB} and ${t.maxMemoryMiB} MiB for ${t.title}` });
  }
  if (diskGiB !== vm.diskGiB) {
    if (t.engine === "kvm") throw new AppError("INVALID_INPUT", { message: "MicroVMs have no disk to resize" });
    if (diskGiB < vm.diskGiB) throw new AppError("INVALID_INPUT", { message: `Disks can only grow: "${vm.name}" has ${vm.diskGiB} GiB (shrinking would cut the file system)` });
    if (diskGiB > MAX_DISK_GIB) throw new AppError("INVALID_INPUT", { message: `Disks are at most ${MAX_DISK_GIB} GiB` });
  }
  return changeVmState(deps, actor, { vmId: vm.id, action: "resize" }, async (tx, v) => {
    // Quota, inside the transaction that changes the row.
    const tenant = await lockTenantQuota(tx, v.tenantId);
    const others = await tx.vm.aggregate({ where: { tenantId: v.tenantId, id: { not: v.id } }, _sum: { cpus: true, memoryMiB: true, diskGiB: true } });
    if ((others._sum.cpus ?? 0) + cpus > tenant.maxVcpus) throw new AppError("QUOTA_EXCEEDED", { message: `Quota reached: ${tenant.maxVcpus} vCPUs in all` });
    if ((others._sum.memoryMiB ?? 0) + memoryMiB > tenant.maxMemoryMiB) throw new AppError("QUOTA_EXCEEDED", { message: `Quota reached: ${tenant.maxMemoryMiB} MiB of memory in all` });
    if ((others._sum.diskGiB ?? 0) + diskGiB > tenant.maxDiskGiB) throw new AppError("QUOTA_EXCEEDED", { message: `Quota reached: ${tenant.maxDiskGiB} GiB of disk in all` });
    // The new disk size counts against the quota from now on; a failed grow gives it back.
    await tx.vm.update({ where: { id: v.id }, data: { cpus, memoryMiB, diskGiB } });
    return JSON.stringify(diskGiB !== vm.diskGiB ? { diskGiB, fromGiB: vm.diskGiB } : {});
  });
}
