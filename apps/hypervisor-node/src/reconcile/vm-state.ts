// Every change of a VM's state on this node goes through here, checked against the node's
// transition table in @vdi/node-protocol. A change the table does not allow is a bug in the agent:
// it is refused, logged, and the VM is reported in error with the reason, never silently taken.
import { isNodeTransition, type NodeVmState } from "@vdi/node-protocol";

export interface VmStateHolder { id: string; state: NodeVmState; reason: string | null }

/**
 * Moves `vm` to `to` (with `reason`), or to `error` when the table refuses the change. Returns
 * whether anything changed, so the caller reports only real changes.
 */
export function transition(vm: VmStateHolder, to: NodeVmState, reason: string | null, log: (msg: string) => void): boolean {
  if (!isNodeTransition(vm.state, to)) {
    log(`vm ${vm.id}: refused state change ${vm.state} → ${to}${reason ? ` (${reason})` : ""}`);
    reason = `The node agent refused to move the VM from ${vm.state} to ${to}; the VM is left as it is (see the node's log)`;
    to = "error";
  }
  if (vm.state === to && vm.reason === reason) return false;
  vm.state = to;
  vm.reason = reason;
  return true;
}
