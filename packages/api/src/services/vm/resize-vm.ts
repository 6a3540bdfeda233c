// Resize: CPUs and memory of a stopped VM, and growing its disk (a running QEMU VM grows online).
import type { Db } from "@vdi/db";
import type { Actor } from "../../context.ts";
import { AppError } from "../../errors.ts";
import { changeVmState } from "./change-vm-state.ts";
import { resizeIntent } from "../operation/resize.ts";
import { visibleVms } from "./vm-access.ts";
import { traitsOf } from "@vdi/node-protocol";

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
    if (!traitsOf(t.engine).hasDisk) throw new AppError("INVALID_INPUT", { message: "MicroVMs have no disk to resize" });
    if (diskGiB < vm.diskGiB) throw new AppError("INVALID_INPUT", { message: `Disks can only grow: "${vm.name}" has ${vm.diskGiB} GiB (shrinking would cut the file system)` });
    if (diskGiB > MAX_DISK_GIB) throw new AppError("INVALID_INPUT", { message: `Disks are at most ${MAX_DISK_GIB} GiB` });
  }
  return changeVmState(deps, actor, { vmId: vm.id, action: "resize" }, (tx, v) =>
    resizeIntent(tx, v, actor, { read: vm, want: { cpus, memoryMiB, diskGiB } }));
}
