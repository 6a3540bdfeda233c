// Take a snapshot: a "creating" snapshot row in the action's transaction, "ready" (with its size,
// and the VM's position in its tree) once the node has it complete on disk; a failed or superseded
// one goes.
import { AppError } from "../../errors.ts";
import { lockTenantQuota } from "../tenant/quota.ts";
import type { IntentVm, OperationRoom, Tx } from "./room.ts";

export async function snapshotIntent(tx: Tx, vm: IntentVm, want: { name: string; description?: string | undefined; withRam: boolean }) {
  if (await tx.snapshot.findFirst({ where: { vmId: vm.id, name: want.name }, select: { id: true } })) {
    throw new AppError("CONFLICT", { message: `"${vm.name}" already has a snapshot named "${want.name}"` });
  }
  const tenant = await lockTenantQuota(tx, vm.tenantId);
  const count = await tx.snapshot.count({ where: { tenantId: vm.tenantId } });
  if (count >= tenant.maxSnapshots) throw new AppError("QUOTA_EXCEEDED", { message: `Quota reached: at most ${tenant.maxSnapshots} snapshots` });
  const snap = await tx.snapshot.create({
    data: { vmId: vm.id, tenantId: vm.tenantId, name: want.name, description: want.description ?? "", includesRam: want.withRam, parentId: vm.currentSnapshotId },
  });
  return { snapshotId: snap.id, withRam: want.withRam };
}

export const snapshotRoom: OperationRoom<"snapshot"> = {
  kind: "snapshot",
  async supersede(tx, _vmId, arg) {
    await tx.snapshot.deleteMany({ where: { id: arg.snapshotId, status: "creating" } });
  },
  async finish(tx, vm, arg, done) {
    if (done.ok) {
      await tx.snapshot.updateMany({ where: { id: arg.snapshotId, vmId: vm.id }, data: { status: "ready", sizeBytes: done.bytes } });
      await tx.vm.update({ where: { id: vm.id }, data: { currentSnapshotId: arg.snapshotId } });
    } else {
      await tx.snapshot.deleteMany({ where: { id: arg.snapshotId, vmId: vm.id, status: "creating" } });
    }
  },
};
