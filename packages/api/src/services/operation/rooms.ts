// Every operation kind's room, in one table: the type requires one per kind, so a new kind is a
// new file and one line here (docs/rooms.md).
import type { Operation, OperationKind } from "@vdi/node-protocol";
import { createRoom } from "./create.ts";
import { restoreRoom } from "./restore.ts";
import { resizeRoom } from "./resize.ts";
import { stateRoom, type Finished, type FinishingVm, type OperationRoom, type Tx } from "./room.ts";
import { snapshotRoom } from "./snapshot.ts";
import { snapshotDeleteRoom } from "./snapshot-delete.ts";
import { templateRoom } from "./template.ts";

const ROOMS: { [K in OperationKind]: OperationRoom<K> } = {
  create: createRoom,
  start: stateRoom("start"),
  stop: stateRoom("stop"),
  poweroff: stateRoom("poweroff"),
  reboot: stateRoom("reboot"),
  pause: stateRoom("pause"),
  resume: stateRoom("resume"),
  save: stateRoom("save"),
  // A delete ends with the VM row (services/node/sync-node.ts): nothing else to take back.
  delete: { kind: "delete" },
  restore: restoreRoom,
  snapshot: snapshotRoom,
  "snapshot-delete": snapshotDeleteRoom,
  template: templateRoom,
  resize: resizeRoom,
};

function roomOf<K extends OperationKind>(kind: K): OperationRoom<K> {
  return ROOMS[kind];
}

/** Undoes what a superseded operation recorded (a snapshot still "creating", say). */
export async function supersedeOperation(tx: Tx, vmId: string, op: Operation): Promise<void> {
  await roomOf(op.kind).supersede?.(tx, vmId, op.arg as never);
}

/** Applies what a finished operation changes besides its row. */
export async function finishOperation(tx: Tx, vm: FinishingVm, op: Operation, done: Finished): Promise<void | "removed"> {
  return roomOf(op.kind).finish?.(tx, vm, op.arg as never, done);
}
