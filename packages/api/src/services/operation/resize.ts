// Resize: the new sizes count against the quota from the action on; a disk that failed to grow
// gives its size back.
import type { Actor } from "../../context.ts";
import { AppError } from "../../errors.ts";
import { checkVmQuota, lockTenantQuota } from "../tenant/quota.ts";
import type { IntentVm, OperationRoom, Tx } from "./room.ts";

export interface ResizeIntent {
  /** The sizes the service checked, as it read them before the transaction. */
  read: { name: string; cpus: number; memoryMiB: number; diskGiB: number };
  want: { cpus: number; memoryMiB: number; diskGiB: number };
}

export async function resizeIntent(tx: Tx, vm: IntentVm, actor: Actor, { read, want }: ResizeIntent) {
  // The service's checks read the VM before this transaction: a resize that committed in between
  // (a disk grown meanwhile, say) would make them stale and let this one shrink the disk. The
  // generation compare-and-set of changeVmState now holds the row, so this read is current.
  const now = await tx.vm.findUniqueOrThrow({ where: { id: vm.id }, select: { cpus: true, memoryMiB: true, diskGiB: true, ownerId: true } });
  if (now.cpus !== read.cpus || now.memoryMiB !== read.memoryMiB || now.diskGiB !== read.diskGiB) {
    throw new AppError("CONFLICT", { message: `"${read.name}" was resized at the same moment: try again` });
  }
  if ((want.cpus !== read.cpus || want.memoryMiB !== read.memoryMiB) && vm.actualState !== "stopped") {
    throw new AppError("INVALID_STATE", { message: `Stop "${read.name}" to change its CPUs or memory (it is ${vm.actualState})` });
  }
  // Quota (the tenant's, and the limit of the VM's owner, whoever resizes it), inside the
  // transaction that changes the row and under the tenant's lock.
  const tenant = await lockTenantQuota(tx, vm.tenantId);
  await checkVmQuota(tx, tenant, { ownerId: now.ownerId, actorId: actor.userId, want, current: { vmId: vm.id, ...now } });
  await tx.vm.update({ where: { id: vm.id }, data: want });
  return want.diskGiB !== read.diskGiB ? { diskGiB: want.diskGiB, fromGiB: read.diskGiB } : {};
}

export const resizeRoom: OperationRoom<"resize"> = {
  kind: "resize",
  async finish(tx, vm, arg, done) {
    if (!done.ok && arg.fromGiB) await tx.vm.update({ where: { id: vm.id }, data: { diskGiB: arg.fromGiB } });
  },
};
