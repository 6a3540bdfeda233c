// The states a node reports for a VM. (The portal adds "unknown" for a VM whose node is down.)
export const NODE_VM_STATES = ["provisioning", "stopped", "starting", "running", "paused", "saving", "saved", "stopping", "deleting", "deleted", "error"] as const;
export type NodeVmState = (typeof NODE_VM_STATES)[number];

/** What a VM can be asked to become. */
export const DESIRED_STATES = ["running", "paused", "saved", "stopped", "deleted"] as const;
export type DesiredState = (typeof DESIRED_STATES)[number];
