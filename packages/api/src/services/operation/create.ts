// Create: the VM row exists from the action on; a create that failed on the node leaves nothing
// behind there, and its row goes too.
import type { OperationRoom } from "./room.ts";

export const createRoom: OperationRoom<"create"> = {
  kind: "create",
  async finish(tx, vm, _arg, done) {
    if (done.ok) return;
    await tx.vm.delete({ where: { id: vm.id } });
    return "removed";
  },
};
