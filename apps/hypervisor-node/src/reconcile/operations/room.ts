// What an operation kind does on a node, in one room: its progress plan and run(ctx). Registered in
// rooms.ts; the reconciler converges the VM's state and calls the room of the operation it carries
// (docs/rooms.md). The model is native/vmm/devices: one room per kind, no central switch.
import type { DesiredVm, OperationKind, OperationOf } from "@vdi/node-protocol";
import type { Engine, LiveDisk, VmHandle, VmPaths, VmStorage } from "../../engines/engine.ts";

export interface OpRunContext<K extends OperationKind> {
  op: OperationOf<K>;
  spec: DesiredVm;
  paths: VmPaths;
  engine: Engine;
  /** The engine's storage (storage/): disk, layers, clones, export. */
  storage: VmStorage;
  /** The engine's live handle (attached for live rooms when the VM runs), or null. */
  handle(): VmHandle | null;
  /** The running VM's disk, for storage to work through; null when the VM does not run. */
  live(): LiveDisk | null;
  /** Reports progress; clamped to the room's plan. */
  progress(percent: number): void;
  /** A named step (a fault point for crash tests: "<kind>:<step>"). */
  fault(step: string): void;
  /** Revert rooms: the VM is about to change under its user; the report says "starting". */
  markStarting(): void;
  /** Revert rooms: ends the engine (on purpose: not a crash) and drops its handle. */
  stopEngine(): Promise<void>;
  /** Connects to the engine that now runs. */
  attach(): Promise<void>;
  /** The VM was asked to run again: a stop it made by itself no longer holds. */
  clearStoppedByItself(): void;
}

export interface NodeOperationRoom<K extends OperationKind> {
  kind: K;
  /**
   * "revert": before the VM's state is converged (the VM stops, goes back, and may run again);
   * "live": after it, on the VM as it is then.
   */
  phase: "revert" | "live";
  /** The span of the operation's progress this run reports in (percent). */
  plan: { from: number; to: number };
  /** Runs only while the engine runs (a reboot); otherwise the VM's state decides the outcome. */
  needsRunning?: boolean;
  /** Success is the VM reaching its desired state (checked by the reconciler), not the run's return. */
  doneByState?: boolean;
  /** A failed run tidies after itself: temp files go, and a VM paused for it goes on if it should run. */
  cleanupOnFailure?: boolean;
  /** Returns what the result takes on disk, in bytes, when it makes something. */
  run(ctx: OpRunContext<K>): Promise<number | void>;
}
