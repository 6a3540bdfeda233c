// The node's operation rooms, in one table. Kinds that only move the VM between states (create,
// start, stop, pause, resume, save, delete) have none: the reconciler's convergence is their work.
import type { OperationKind } from "@vdi/node-protocol";
import { rebootRoom } from "./reboot.ts";
import { resizeRoom } from "./resize.ts";
import { restoreRoom } from "./restore.ts";
import type { NodeOperationRoom } from "./room.ts";
import { snapshotDeleteRoom } from "./snapshot-delete.ts";
import { snapshotRoom } from "./snapshot.ts";
import { templateRoom } from "./template.ts";

const ROOMS: { [K in OperationKind]?: NodeOperationRoom<K> } = {
  restore: restoreRoom,
  reboot: rebootRoom,
  snapshot: snapshotRoom,
  "snapshot-delete": snapshotDeleteRoom,
  template: templateRoom,
  resize: resizeRoom,
};

export function nodeRoomOf<K extends OperationKind>(kind: K): NodeOperationRoom<K> | undefined {
  return ROOMS[kind] as NodeOperationRoom<K> | undefined;
}
