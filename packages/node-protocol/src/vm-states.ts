// The states a node reports for a VM, and which changes between them a node may make. (The portal
// adds "unknown" for a VM whose node is down, and keeps its own table of what users may do in each
// state: packages/api/src/services/vm/vm-state.ts.)
export const NODE_VM_STATES = [
  "provisioning", "stopped", "starting", "running", "paused", "saving", "saved", "stopping",
  // Live migration between nodes (DESIGN): the source sends while its VM runs on, the target
  // receives into an engine started to take it. Nothing enters them yet: the states have their
  // places (and their edges below) so that migration lands without editing the table's users.
  "migrating", "incoming",
  "deleting", "deleted", "error",
] as const;
export type NodeVmState = (typeof NODE_VM_STATES)[number];

/** What a VM can be asked to become. */
export const DESIRED_STATES = ["running", "paused", "saved", "stopped", "deleted"] as const;
export type DesiredState = (typeof DESIRED_STATES)[number];

/**
 * The changes a node may make to a VM's state, from each state. `error` and `deleting` can be
 * entered from anywhere (a failure, a delete that overtakes whatever runs) and are not listed.
 * A change outside the table is a bug on the node: it is refused, logged and reported as an error.
 */
export const NODE_VM_TRANSITIONS: { readonly [S in NodeVmState]: readonly NodeVmState[] } = {
  // Being made (disk, clone); a failed create is dropped, never left half-made.
  provisioning: ["stopped", "starting"],
  // (running, paused, saved: what a node finds when it looks again, e.g. after its handle to the
  // engine closed while the engine lived on)
  stopped: ["starting", "provisioning", "running", "paused", "saved"],
  // A boot, a resume of a saved state, a revert: it comes up, or it stops with a reason.
  starting: ["running", "paused", "stopped", "saved", "stopping"],
  running: ["paused", "saving", "stopping", "stopped", "starting", "migrating"],
  paused: ["running", "saving", "stopping", "stopped", "starting", "migrating"],
  // A save that fails leaves the VM as it was; one that succeeds leaves it saved.
  saving: ["saved", "running", "paused", "stopped"],
  saved: ["starting", "stopped"],
  stopping: ["stopped", "running", "paused"],
  // The source: done (the target runs it, the source's copy goes) or failed (it runs on here).
  migrating: ["running", "paused", "stopped", "deleted"],
  // The target: the state arrived and the VM runs here, or the migration failed and it goes.
  incoming: ["running", "paused", "stopped"],
  deleting: ["deleted"],
  deleted: [],
  // Out of an error: whatever the node does or finds next.
  error: ["provisioning", "stopped", "starting", "running", "paused", "saving", "saved", "stopping"],
};

/** States any state may go to. */
const FROM_ANYWHERE: ReadonlySet<NodeVmState> = new Set(["error", "deleting"]);

/** Whether a node may move a VM from `from` to `to`. */
export function isNodeTransition(from: NodeVmState, to: NodeVmState): boolean {
  return from === to || FROM_ANYWHERE.has(to) || NODE_VM_TRANSITIONS[from].includes(to);
}
