// Delete a snapshot: marked "deleting" in the action's transaction (refused while a linked clone
// reads from it); gone once the node has removed it, its children moving up to its parent; a failed
// or superseded delete leaves it "ready".
import type { Actor } from "../../context.ts";
import { AppError } from "../../errors.ts";
import { lockTenantQuota } from "../tenant/quota.ts";
import { nameVms } from "../vm/vm-access.ts";
import type { IntentVm, OperationRoom, Tx } from "./room.ts";

export async function snapshotDeleteIntent(tx: Tx, vm: IntentVm, actor: Actor, snap: { id: string; name: string }) {
  // Under the tenant's lock, as clones are created: a linked clone cannot slip in meanwhile.
  await lockTenantQuota(tx, vm.tenantId);
  const dependents = await tx.vm.findMany({
    where: { cloneOfSnapshotId: snap.id, desiredState: { not: "deleted" }, OR: [{ cloneMode: "linked" }, { actualState: "provisioning" }] },
    select: { name: true, cloneMode: true, ownerId: true, tenantId: true, shared: true },
  });
  if (dependents.length) {
    // Other members' private VMs are counted, not named.
    const named = nameVms(actor, dependents, (d) => `${d.cloneMode === "linked" ? "linked clone" : "clone"} "${d.name}"`);
    throw new AppError("INVALID_STATE", {
      message: `Snapshot "${snap.name}" is the base of ${named}: delete ${dependents.length > 1 ? "them" : "it"} first (or make full clones)`,
    });
  }
  const marked = await tx.snapshot.updateMany({ where: { id: snap.id, status: "ready" }, data: { status: "deleting" } });
  if (marked.count === 0) throw new AppError("CONFLICT", { message: `Snapshot "${snap.name}" changed at the same moment: try again` });
  return { snapshotId: snap.id };
}

export const snapshotDeleteRoom: OperationRoom<"snapshot-delete"> = {
  kind: "snapshot-delete",
  async supersede(tx, _vmId, arg) {
    await tx.snapshot.updateMany({ where: { id: arg.snapshotId, status: "deleting" }, data: { status: "ready" } });
  },
  async finish(tx, vm, arg, done) {
    if (!done.ok) {
      await tx.snapshot.updateMany({ where: { id: arg.snapshotId, vmId: vm.id, status: "deleting" }, data: { status: "ready" } });
      return;
    }
    const snap = await tx.snapshot.findFirst({ where: { id: arg.snapshotId, vmId: vm.id } });
    if (!snap) return;
    // Children move up to the deleted snapshot's parent; the VM's position too.
    await tx.snapshot.updateMany({ where: { parentId: snap.id }, data: { parentId: snap.parentId } });
    await tx.vm.updateMany({ where: { id: vm.id, currentSnapshotId: snap.id }, data: { currentSnapshotId: snap.parentId } });
    await tx.snapshot.delete({ where: { id: snap.id } });
  },
};
