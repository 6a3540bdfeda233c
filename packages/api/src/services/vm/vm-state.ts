// The VM state machine in one place: which actions a VM allows in which state.
export const VM_ACTUAL_STATES = ["provisioning", "stopped", "starting", "running", "paused", "saving", "saved", "stopping", "migrating", "incoming", "deleting", "error", "unknown"] as const;
export type VmActualState = (typeof VM_ACTUAL_STATES)[number];
export type VmDesiredState = "running" | "paused" | "saved" | "stopped" | "deleted";
export type VmAction = "start" | "stop" | "poweroff" | "reboot" | "pause" | "resume" | "save" | "snapshot" | "restore" | "snapshot-delete" | "template" | "resize" | "delete" | "console";

/** Actions allowed from each actual state when no operation is in flight. */
const ALLOWED: Record<VmActualState, readonly VmAction[]> = {
  provisioning: ["delete"],
  stopped: ["start", "snapshot", "restore", "snapshot-delete", "template", "resize", "delete"],
  starting: ["stop", "poweroff", "delete"],
  running: ["stop", "poweroff", "reboot", "pause", "save", "snapshot", "restore", "snapshot-delete", "template", "resize", "delete", "console"],
  paused: ["resume", "stop", "poweroff", "save", "snapshot", "restore", "snapshot-delete", "template", "delete", "console"],
  saving: ["delete"],
  saved: ["start", "stop", "snapshot-delete", "delete"],
  // A shutdown the guest takes too long over can be cut short.
  stopping: ["poweroff", "delete"],
  // A live migration: the console stays open on the source until the target runs the VM.
  migrating: ["console"],
  incoming: [],
  deleting: [],
  error: ["start", "stop", "poweroff", "restore", "snapshot-delete", "delete"],
  unknown: [],
};

export function asActualState(s: string): VmActualState {
  return (VM_ACTUAL_STATES as readonly string[]).includes(s) ? (s as VmActualState) : "unknown";
}

export function allowedActions(vm: { actualState: string; desiredState: string }, opts: { opInFlight: boolean; nodeUp: boolean; opKind?: string | undefined }): VmAction[] {
  if (vm.desiredState === "deleted") return [];
  if (!opts.nodeUp) return [];
  const base = ALLOWED[asActualState(vm.actualState)];
  // While an operation runs only delete may overtake it (e.g. cancelling a stuck create).
  // A power off may also overtake a shutdown in progress.
  return opts.opInFlight ? base.filter((a) => a === "delete" || a === "console" || (a === "poweroff" && opts.opKind === "stop")) : [...base];
}

export const DESIRED_AFTER: Record<Exclude<VmAction, "console">, VmDesiredState | null> = {
  start: "running",
  stop: "stopped",
  poweroff: "stopped",
  reboot: null,
  pause: "paused",
  resume: "running",
  save: "saved",
  snapshot: null,
  restore: "running",
  "snapshot-delete": null,
  template: null,
  resize: null,
  delete: "deleted",
};
