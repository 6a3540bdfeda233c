// Go back to a snapshot: the VM's position in its tree moves there once the node has reverted; a
// failed revert leaves the VM in the state the node reports.
import { desiredFollowsReport, type OperationRoom } from "./room.ts";

export const restoreRoom: OperationRoom<"restore"> = {
  kind: "restore",
  async finish(tx, vm, arg, done) {
    if (done.ok) await tx.vm.update({ where: { id: vm.id }, data: { currentSnapshotId: arg.snapshotId } });
    else await desiredFollowsReport(tx, vm, done);
  },
};
