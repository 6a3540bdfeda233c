// What an operation kind does on the portal, in one room: its intent (what the action records in
// its transaction, returning the operation's argument), what a superseded one takes back, and what
// a finished one changes besides its row. Registered in rooms.ts; docs/rooms.md.
import type { Db } from "@vdi/db";
import type { OperationArg, OperationKind, VmReport } from "@vdi/node-protocol";

export type Tx = Parameters<Parameters<Db["$transaction"]>[0]>[0];

/** The VM row an action holds (its generation claimed) while it records an operation. */
export interface IntentVm {
  id: string;
  name: string;
  tenantId: string;
  templateId: string;
  nodeId: string;
  actualState: string;
  currentSnapshotId: string | null;
}

/** The VM row a finishing report has locked. */
export interface FinishingVm {
  id: string;
  desiredState: string;
}

export interface Finished {
  ok: boolean;
  report: VmReport;
  /** What a snapshot or an image takes on disk. */
  bytes: bigint;
}

export interface OperationRoom<K extends OperationKind> {
  kind: K;
  /** What is undone when a newer action supersedes the operation, in that action's transaction. */
  supersede?(tx: Tx, vmId: string, arg: OperationArg<K>): Promise<void>;
  /**
   * What the finished operation changes besides its row, in the report's transaction. "removed":
   * the VM row is gone (a failed create leaves nothing).
   */
  finish?(tx: Tx, vm: FinishingVm, arg: OperationArg<K>, done: Finished): Promise<void | "removed">;
}

/**
 * A failed state operation leaves the VM as it is: its desired state follows the state the node
 * reports, so the node does not try again behind the user's back.
 */
export async function desiredFollowsReport(tx: Tx, vm: FinishingVm, done: Finished): Promise<void> {
  if (done.ok) return;
  const s = done.report.state;
  const now = s === "running" || s === "paused" || s === "saved" ? s : s === "stopped" || s === "error" ? "stopped" : null;
  if (now && now !== vm.desiredState) await tx.vm.update({ where: { id: vm.id }, data: { desiredState: now, generation: { increment: 1 } } });
}

/** The room of an operation that only moves the VM between states (start, stop, pause …). */
export function stateRoom<K extends OperationKind>(kind: K): OperationRoom<K> {
  return { kind, finish: (tx, vm, _arg, done) => desiredFollowsReport(tx, vm, done) };
}
