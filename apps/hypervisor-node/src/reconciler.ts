// Brings each VM's actual state (engine process, disk, files) to the desired state from the
// portal, one VM at a time, and remembers enough on disk to re-attach after a restart.
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { join } from "node:path";
import { z } from "zod";
import { engineNamed, tryDecodeOperation, type DesiredVm, type Operation, type OperationKind, type VmReport } from "@vdi/node-protocol";
import { writeFileAtomic } from "@vdi/durable-file";
import { NO_FAULTS, type FaultPoints } from "./lib/fault-points.ts";
import { nodeRoomOf } from "./reconcile/operations/rooms.ts";
import type { NodeOperationRoom, OpRunContext } from "./reconcile/operations/room.ts";
import { transition } from "./reconcile/vm-state.ts";
import { describeExit, type EngineSupervisor, type EngineWatch } from "./lib/engine-supervisor.ts";
import { killProcessesMentioning, processCommandLines, processesMentioning } from "./lib/processes.ts";
import { EngineError, EngineLookupError, snapshotDir, vmPaths, type Engine, type VmHandle, type VmPaths } from "./engines/engine.ts";
import type { RdpEndpoint } from "./rdp/rdp-stream.ts";

/** The snapshot an operation names, if its kind names one. */
function snapshotOf(op: Operation | null): string | null {
  if (!op) return null;
  return op.kind === "snapshot" || op.kind === "restore" || op.kind === "snapshot-delete" || op.kind === "template" ? op.arg.snapshotId ?? null : null;
}

/** The number in a pid file, or null (missing, unreadable, not a number). */
function readPid(file: string): number | null {
  try {
    const n = Number.parseInt(readFileSync(file, "utf8").trim(), 10);
    return Number.isInteger(n) ? n : null;
  } catch {
    return null;
  }
}

/** Kinds whose interruption is finished on restart rather than failed: the user wanted the thing gone. */
const ROLL_FORWARD = new Set(["delete", "snapshot-delete"]);

export interface ReconcilerOptions {
  /** Test fault points (lib/fault-points.ts); inert unless a test asks for one. */
  faults?: FaultPoints;
  /** Holds engine processes by pidfd, so their end is heard at once (lib/engine-supervisor.ts). */
  supervisor?: EngineSupervisor;
}

/** How long a handle is given to say why its engine ended, once the pidfd has said that it did. */
const REASON_GRACE_MS = 250;

type VmState = VmReport["state"];
type OpReport = NonNullable<VmReport["op"]>;

const VM_ID = /^[a-z0-9]{1,64}$/;

const localRecordSchema = z.object({
  spec: z.custom<DesiredVm>((v) => typeof v === "object" && v !== null && "id" in v),
  lastOp: z.object({ id: z.string(), status: z.enum(["running", "succeeded", "failed"]), progress: z.number(), error: z.string().nullish(), bytes: z.number().nullish() }).nullable(),
  /** The generation at which the VM stopped by itself; it is not restarted until the portal asks again. */
  stoppedGeneration: z.number().nullable(),
  stopReason: z.string().nullable(),
});
type LocalRecord = z.infer<typeof localRecordSchema>;

interface LocalVm extends LocalRecord {
  id: string;
  paths: VmPaths;
  state: VmState;
  reason: string | null;
  handle: VmHandle | null;
  /** The engine process, held by pidfd while a handle is attached. */
  watch: EngineWatch | null;
  stopping: boolean;
  queue: Promise<void>;
  opStartedAt: number;
  /** Engine look-ups that failed in a row (EngineLookupError): the VM is left alone meanwhile. */
  lookupFailures: number;
}

export class Reconciler {
  private readonly vms = new Map<string, LocalVm>();
  private readonly failedCreates = new Map<string, VmReport>();
  private readonly vmsDir: string;

  constructor(
    private readonly engines: Partial<Record<string, Engine>>,
    dataDir: string,
    private readonly onChange: () => void,
    private readonly log: (msg: string) => void,
    private readonly opts: ReconcilerOptions = {},
  ) {
    this.vmsDir = join(dataDir, "vms");
    mkdirSync(this.vmsDir, { recursive: true });
  }

  private engineOf(vm: LocalVm): Engine {
    const e = this.engines[vm.spec.engine];
    if (!e) throw new EngineError(`This node cannot run "${vm.spec.engine}" VMs`);
    return e;
  }

  /** Re-discovers VMs from their folders and re-attaches to running engine processes. */
  async loadFromDisk(): Promise<void> {
    // One look at the host's processes serves every VM's recovery (helpers left behind).
    const procs = processCommandLines();
    for (const id of readdirSync(this.vmsDir)) {
      if (!VM_ID.test(id)) continue;
      const file = join(this.vmsDir, id, "state.json");
      if (!existsSync(file)) {
        rmSync(join(this.vmsDir, id), { recursive: true, force: true }); // never got past its first write
        continue;
      }
      const rec = localRecordSchema.safeParse(JSON.parse(readFileSync(file, "utf8")));
      if (!rec.success) {
        this.log(`vm ${id}: unreadable state.json, leaving it alone`);
        continue;
      }
      // Records written before the engine rename name our VMM "kvm".
      rec.data.spec.engine = engineNamed(rec.data.spec.engine) ?? rec.data.spec.engine;
      // Records written before the wire carried decoded operations hold the argument as text.
      const stored = rec.data.spec.op as { id: string; kind: string; arg: unknown } | null;
      if (stored) {
        rec.data.spec.op = tryDecodeOperation(stored);
        if (!rec.data.spec.op) this.log(`vm ${id}: the operation in state.json (${String(stored.kind).slice(0, 40)}) cannot be read; the portal's next answer says what is wanted`);
      }
      // What the node finds at start-up is where the VM is, not a change: set, not transitioned.
      const vm = this.newLocal(id, rec.data);
      this.vms.set(id, vm);
      const engine = this.engines[vm.spec.engine];
      let pid: number | null;
      try {
        pid = engine ? engine.runningPid(vm.paths) : null;
      } catch (e) {
        // Unknown is not stopped: nothing is cleaned, killed or started until a look succeeds.
        vm.state = "error";
        vm.reason = (e as Error).message;
        this.log(`vm ${id}: ${vm.reason}; leaving it alone until it can be looked up`);
        continue;
      }
      if (engine && pid !== null) {
        // Found by its control socket with no (or a wrong) pid file: the pid file says so again.
        if (readPid(vm.paths.pidFile) !== pid) {
          writeFileAtomic(vm.paths.pidFile, `${pid}\n`);
          this.log(`vm ${id}: its engine (pid ${pid}) had lost its pid file; adopted`);
        }
        await this.attach(vm, engine).catch((e: Error) => this.log(`vm ${id}: engine runs but its control socket failed: ${e.message}`));
        // The running VM is newer than any saved state next to it (a save interrupted after its rename).
        if (existsSync(vm.paths.saved)) rmSync(vm.paths.saved, { recursive: true, force: true });
        vm.state = vm.handle && (await engine.isPaused(vm.handle).catch(() => false)) ? "paused" : "running";
        this.log(`vm ${id}: re-attached to its running ${engine.kind} process`);
      } else {
        vm.state = existsSync(vm.paths.saved) ? "saved" : engine?.storage.isPrepared(vm.paths) ? "stopped" : "provisioning";
      }
      // A look that fails midway leaves this VM to the next resync; it never stops the agent's start.
      if (engine) await this.recover(vm, engine, procs).catch((e: Error) => this.log(`vm ${id}: recovery left for later: ${e.message}`));
    }
  }

  /**
   * After a restart: an operation that was in flight is marked failed with the reason (or, for
   * deletes, finished), and what it left half-made is removed. Earlier snapshots are untouched.
   */
  private async recover(vm: LocalVm, engine: Engine, procs: { pid: number; cmdline: string }[]): Promise<void> {
    const op = vm.spec.op;
    const interrupted = op && vm.lastOp?.id === op.id && vm.lastOp.status === "running" ? op : null;
    // Helpers the dead agent or QEMU left running (the shell behind a migration pipe, a qemu-img
    // copy) would go on writing into files that are about to be removed. Only at start-up: later,
    // another VM's operation (a clone copying this VM's disk) may legitimately name this folder.
    // The engine itself names the folder too: whatever holds the VM's control socket is spared,
    // pid file or not.
    const engines = processesMentioning(vm.paths.controlSock, procs);
    const strays = killProcessesMentioning(`${vm.paths.dir}/`, [engine.runningPid(vm.paths), ...engines], procs);
    if (strays) this.log(`vm ${vm.id}: ended ${strays} helper process${strays > 1 ? "es" : ""} an interrupted operation left`);
    if (interrupted?.kind === "create") {
      if (engine.runningPid(vm.paths) !== null) await engine.stop(vm.paths, vm.handle);
      vm.handle?.close();
      this.failCreate(vm, `Interrupted: the node agent restarted while creating the VM; nothing was kept`);
      return;
    }
    try {
      const removed = await this.tidy(vm, engine);
      if (removed.length) this.log(`vm ${vm.id}: removed what an interrupted operation left: ${removed.join(", ")}`);
    } catch (e) {
      this.log(`vm ${vm.id}: cleanup failed: ${(e as Error).message}`);
    }
    if (!interrupted || ROLL_FORWARD.has(interrupted.kind)) return;
    const snapshotId = snapshotOf(interrupted);
    const dir = snapshotId ? snapshotDir(vm.paths, snapshotId) : null;
    const running = engine.runningPid(vm.paths) !== null;
    if (interrupted.kind === "snapshot" && dir && existsSync(dir)) {
      // It completed (the folder takes its name last); only the report was lost.
      vm.lastOp = { id: interrupted.id, status: "succeeded", progress: 100, bytes: engine.storage.snapshotBytes(vm.paths, dir) };
    } else if (interrupted.kind === "template" && engine.storage.hasImage(interrupted.arg.image)) {
      vm.lastOp = { id: interrupted.id, status: "succeeded", progress: 100 };
    } else {
      // A revert may have switched the disk before the restart: say only what is sure.
      const state = interrupted.kind === "restore" ? "the VM is stopped" : "the VM is as it was before it";
      vm.lastOp = { id: interrupted.id, status: "failed", progress: vm.lastOp!.progress, error: `Interrupted: the node agent restarted during the ${interrupted.kind}; ${state}` };
    }
    // A save whose file took its name just before the restart, while QEMU goes on: that state is
    // stale from now on and must never be resumed over the newer disk.
    if (running && existsSync(vm.paths.saved)) {
      rmSync(vm.paths.saved, { recursive: true, force: true });
      this.log(`vm ${vm.id}: removed a saved state older than the running VM`);
    }
    this.log(`vm ${vm.id}: interrupted ${interrupted.kind} → ${vm.lastOp.status}`);
    // A snapshot or save pauses the VM; it goes on unless the user wants it paused.
    if (vm.handle && !vm.handle.isClosed && vm.spec.desiredState !== "paused" && (await engine.isPaused(vm.handle).catch(() => false))) {
      await engine.resume(vm.handle).catch(() => undefined);
      this.setState(vm, "running");
    }
    this.persist(vm);
  }

  /**
   * What an interrupted or failed operation left: the engine's own (a migration, a half-written
   * saved state), then the storage's (temp files, unreferenced layers), through the running disk
   * when the engine can be reached.
   */
  private async tidy(vm: LocalVm, engine: Engine): Promise<string[]> {
    const removed = await engine.cleanup(vm.paths, vm.handle);
    let live = null;
    try { live = engine.liveDisk(vm.paths, vm.handle); } catch { /* runs but unreachable: storage works on the files */ }
    return [...removed, ...(await engine.storage.cleanup(vm.paths, live))];
  }

  /** A named step of an operation (a fault point for crash tests). */
  private fault(kind: string, step: string, vm: LocalVm, engine: Engine): void {
    (this.opts.faults ?? NO_FAULTS).hit(`${kind}:${step}`, { vmId: vm.id, enginePid: () => engine.runningPid(vm.paths) });
  }

  private newLocal(id: string, rec: LocalRecord): LocalVm {
    return { ...rec, id, paths: vmPaths(join(this.vmsDir, id)), state: "provisioning", reason: null, handle: null, watch: null, stopping: false, queue: Promise.resolve(), opStartedAt: Date.now(), lookupFailures: 0 };
  }

  private persist(vm: LocalVm): void {
    const rec: LocalRecord = { spec: vm.spec, lastOp: vm.lastOp, stoppedGeneration: vm.stoppedGeneration, stopReason: vm.stopReason };
    writeFileAtomic(join(vm.paths.dir, "state.json"), JSON.stringify(rec));
  }

  /** Applies the portal's desired set. */
  setDesired(specs: DesiredVm[]): void {
    const wanted = new Set<string>();
    for (const spec of specs) {
      if (!VM_ID.test(spec.id)) continue;
      wanted.add(spec.id);
      if (this.failedCreates.has(spec.id)) continue; // reported; the portal is dropping it
      let vm = this.vms.get(spec.id);
      if (!vm) {
        if (spec.desiredState === "deleted") {
          // Nothing here to delete: say so, so the portal can finish the delete.
          vm = this.newLocal(spec.id, { spec, lastOp: spec.op ? { id: spec.op.id, status: "succeeded", progress: 100 } : null, stoppedGeneration: null, stopReason: null });
          vm.state = "deleted";
          this.vms.set(spec.id, vm);
          this.onChange();
          continue;
        }
        vm = this.newLocal(spec.id, { spec, lastOp: null, stoppedGeneration: null, stopReason: null });
        mkdirSync(vm.paths.dir, { recursive: true });
        this.vms.set(spec.id, vm);
        this.persist(vm);
      } else if (vm.spec.generation === spec.generation && vm.spec.desiredState === spec.desiredState) {
        continue;
      }
      if (spec.op?.id !== vm.spec.op?.id) vm.opStartedAt = Date.now();
      vm.spec = spec;
      this.schedule(vm);
    }
    for (const id of this.failedCreates.keys()) if (!wanted.has(id)) this.failedCreates.delete(id);
    for (const vm of this.vms.values()) {
      // Gone from the portal: a failed create (nothing left here) or a confirmed delete is forgotten;
      // a VM with a disk is left untouched (the portal's database may have been restored).
      const engine = this.engines[vm.spec.engine];
      const idle = !engine || (!engine.storage.isPrepared(vm.paths) && this.surelyStopped(vm, engine));
      if (!wanted.has(vm.id) && (vm.state === "deleted" || idle)) {
        rmSync(vm.paths.dir, { recursive: true, force: true });
        this.vms.delete(vm.id);
      }
    }
  }

  /** Re-checks every VM (an engine may have died while nobody watched). */
  resync(): void {
    for (const vm of this.vms.values()) if (vm.state !== "deleted") this.schedule(vm);
  }

  private schedule(vm: LocalVm): void {
    vm.queue = vm.queue.then(() => this.reconcile(vm)).then(() => { vm.lookupFailures = 0; }, (e: Error) => {
      if (!(e instanceof EngineLookupError)) return this.log(`vm ${vm.id}: ${e.message}`);
      // The VM is left exactly as it is; the portal sees why, and the log is not flooded (1, 2, 4 … failures).
      vm.lookupFailures++;
      if ((vm.lookupFailures & (vm.lookupFailures - 1)) === 0) this.log(`vm ${vm.id}: ${e.message} (${vm.lookupFailures}×; left alone)`);
      if (vm.reason !== e.message) {
        vm.reason = e.message;
        this.onChange();
      }
    });
  }

  /** True only when the engine definitely does not run (a failed look is not "stopped"). */
  private surelyStopped(vm: LocalVm, engine: Engine): boolean {
    try {
      return engine.runningPid(vm.paths) === null;
    } catch {
      return false;
    }
  }

  private setOp(vm: LocalVm, status: OpReport["status"], progress: number, error?: string, bytes?: number): void {
    if (!vm.spec.op) return;
    // Progress callbacks fire often; only a change is worth a report.
    if (status === "running" && vm.lastOp?.id === vm.spec.op.id && vm.lastOp.status === "running" && vm.lastOp.progress === progress) return;
    if (status !== "running") this.log(`vm ${vm.id}: ${vm.spec.op.kind} ${status}${error ? `: ${error}` : ""} (${Date.now() - vm.opStartedAt} ms)`);
    const starting = vm.lastOp?.id !== vm.spec.op.id;
    vm.lastOp = { id: vm.spec.op.id, status, progress, error: error ?? null, ...(bytes !== undefined ? { bytes } : {}) };
    // Journal: an operation is on disk as running before it changes anything, so a restart knows.
    if (status !== "running" || (starting && existsSync(vm.paths.dir))) this.persist(vm);
    this.onChange();
  }

  private opPending(vm: LocalVm): boolean {
    return !!vm.spec.op && !(vm.lastOp?.id === vm.spec.op.id && vm.lastOp.status !== "running");
  }

  /** Every state change goes through the node's transition table (reconcile/vm-state.ts). */
  private setState(vm: LocalVm, state: VmState, reason: string | null = null): void {
    if (transition(vm, state, reason, this.log)) this.onChange();
  }

  private failCreate(vm: LocalVm, msg: string): void {
    // Leave nothing behind: the portal drops the VM when the create fails.
    rmSync(vm.paths.dir, { recursive: true, force: true });
    this.vms.delete(vm.id);
    const op = vm.spec.op;
    this.failedCreates.set(vm.id, { id: vm.id, state: "error", reason: msg, op: op ? { id: op.id, status: "failed", progress: 10, error: msg } : null });
    this.onChange();
  }

  /**
   * One pass for one VM, under its queue: delete, or make it, then an operation that goes back
   * (revert) before anything else, then the process brought to the desired state, then an
   * operation that works on the VM as it is, then pause/resume and the report (finish).
   */
  private async reconcile(vm: LocalVm): Promise<void> {
    const engine = this.engineOrFail(vm);
    if (!engine) return;
    if (vm.spec.desiredState === "deleted") return this.remove(vm, engine);
    if (!engine.storage.isPrepared(vm.paths) && !(await this.provision(vm, engine))) return;
    const room = vm.spec.op ? nodeRoomOf(vm.spec.op.kind) : undefined;
    // Revert first, so a stopped VM is not booted only to be stopped again.
    if (this.opPending(vm) && room?.phase === "revert") {
      await this.runRoom(vm, engine, room, false);
      return this.finish(vm, engine);
    }
    const running = engine.runningPid(vm.paths) !== null;
    if (!(await this.converge(vm, engine, running))) return;
    if (this.opPending(vm) && room?.phase === "live" && (!room.needsRunning || engine.runningPid(vm.paths) !== null)) {
      await this.runRoom(vm, engine, room, running);
    }
    return this.finish(vm, engine);
  }

  /** The VM's engine, or null once the VM is reported (a create fails; anything else is in error). */
  private engineOrFail(vm: LocalVm): Engine | null {
    try {
      return this.engineOf(vm);
    } catch (e) {
      if (vm.spec.op?.kind === "create" && this.opPending(vm)) this.failCreate(vm, (e as Error).message);
      else this.setState(vm, "error", (e as Error).message);
      return null;
    }
  }

  private async remove(vm: LocalVm, engine: Engine): Promise<void> {
    const pending = this.opPending(vm);
    this.setState(vm, "deleting");
    if (pending) this.setOp(vm, "running", 30);
    vm.stopping = true;
    await engine.stop(vm.paths, vm.handle);
    vm.handle?.close();
    this.fault("delete", "after-stop", vm, engine);
    rmSync(vm.paths.dir, { recursive: true, force: true });
    if (pending) vm.lastOp = { id: vm.spec.op!.id, status: "succeeded", progress: 100 };
    this.setState(vm, "deleted");
  }

  /** Makes the VM's disk (or clone); false when the create failed (and was reported). */
  private async provision(vm: LocalVm, engine: Engine): Promise<boolean> {
    const spec = vm.spec;
    const pending = this.opPending(vm);
    if (pending) this.setOp(vm, "running", 10);
    this.setState(vm, "provisioning");
    try {
      if (spec.cloneOf) {
        const srcPaths = vmPaths(join(this.vmsDir, spec.cloneOf.vmId));
        if (!existsSync(srcPaths.dir)) throw new EngineError("The VM to clone is not on this node");
        const src = { paths: srcPaths, snapshotDir: spec.cloneOf.snapshotId ? snapshotDir(srcPaths, spec.cloneOf.snapshotId) : null, mode: spec.cloneOf.mode, running: engine.runningPid(srcPaths) !== null };
        const bytes = await engine.storage.prepareClone(spec, vm.paths, src, (p) => {
          this.fault("create", "during-copy", vm, engine);
          if (pending) this.setOp(vm, "running", 10 + Math.round(p * 0.4));
        });
        this.log(`vm ${vm.id}: ${spec.cloneOf.mode} clone of ${spec.cloneOf.vmId}: ${bytes} bytes written`);
        this.fault("create", "after-clone-disk", vm, engine);
      } else {
        await engine.storage.prepare(spec, vm.paths);
      }
    } catch (e) {
      this.failCreate(vm, e instanceof EngineError ? e.message : `Cannot create the disk: ${(e as Error).message}`);
      return false;
    }
    if (pending) this.setOp(vm, "running", 50);
    this.setState(vm, "stopped");
    return true;
  }

  /**
   * Brings the engine process to the desired state: save (hibernate), resume a saved state, boot,
   * or power off. False when the pass ends here (the VM could not start, or it stopped by itself
   * and is not restarted until asked again).
   */
  private async converge(vm: LocalVm, engine: Engine, running: boolean): Promise<boolean> {
    const spec = vm.spec;
    const wantsProcess = spec.desiredState === "running" || spec.desiredState === "paused";
    const saveFailed = spec.op?.kind === "save" && vm.lastOp?.id === spec.op.id && vm.lastOp.status === "failed";
    if (spec.desiredState === "saved" && running && !saveFailed) await this.save(vm, engine);
    else if (spec.desiredState === "stopped" && !running && existsSync(vm.paths.saved)) {
      rmSync(vm.paths.saved, { recursive: true, force: true });  // powering off a saved VM discards its state
    }
    if (wantsProcess && !running && existsSync(vm.paths.saved)) return this.resumeSaved(vm, engine);
    if (wantsProcess && !running) return this.boot(vm, engine);
    if (spec.desiredState === "stopped" && running) {
      this.setState(vm, "stopping");
      vm.stopping = true;
      // "Shut down" asks the guest first; "Power off" (and any stop the user did not ask for as a
      // shutdown) does not wait. A power off asked for meanwhile cuts the wait short.
      const graceMs = spec.op?.kind === "stop" && this.opPending(vm) ? engine.shutdownGraceMs?.(spec) ?? 0 : 0;
      const how = await engine.stop(vm.paths, vm.handle, { graceMs, abandon: () => vm.spec.op?.kind === "poweroff" });
      if (graceMs > 0) this.log(`vm ${vm.id}: ${how === "guest" ? "the guest shut down" : `powered off (the guest did not shut down${vm.spec.op?.kind === "poweroff" ? "; a power off was asked" : ` within ${graceMs / 1000} s`})`}`);
      vm.stopping = false;
      vm.handle?.close();
      vm.handle = null;
    } else if (running && (!vm.handle || vm.handle.isClosed)) {
      await this.attach(vm, engine).catch(() => undefined);
    }
    return true;
  }

  /** Hibernate: RAM and devices to disk, then the process ends. A failure leaves the VM as it was. */
  private async save(vm: LocalVm, engine: Engine): Promise<void> {
    this.setState(vm, "saving");
    if (this.opPending(vm)) this.setOp(vm, "running", 20);
    vm.stopping = true;
    try {
      if (!vm.handle || vm.handle.isClosed) await this.attach(vm, engine);
      await engine.save(vm.paths, vm.handle!, (p) => { if (this.opPending(vm)) this.setOp(vm, "running", 20 + Math.round(p * 0.7)); });
      vm.handle?.close();
      vm.handle = null;
    } catch (e) {
      if (this.opPending(vm)) this.setOp(vm, "failed", 50, (e as Error).message);
    } finally {
      vm.stopping = false;
    }
  }

  private async resumeSaved(vm: LocalVm, engine: Engine): Promise<boolean> {
    this.setState(vm, "starting");
    try {
      if (this.opPending(vm)) this.setOp(vm, "running", 5);
      await engine.startSaved(vm.spec, vm.paths, (p) => { if (this.opPending(vm)) this.setOp(vm, "running", 5 + Math.round(p * 0.9)); });
      await this.attach(vm, engine);
      rmSync(vm.paths.saved, { recursive: true, force: true });
      vm.stoppedGeneration = null;
      vm.stopReason = null;
      this.persist(vm);
      return true;
    } catch (e) {
      const msg = `Cannot resume the saved state: ${(e as Error).message}`;
      // Whatever half-started must not pass for the VM (a running process makes its saved state
      // look stale); the saved state itself is kept: the VM is still saved, and the next start
      // tries it again. (Reporting "error" would let the portal's desired state follow to
      // "stopped", and a stopped VM's saved state is discarded.)
      if (engine.runningPid(vm.paths) !== null) await engine.stop(vm.paths, null).catch(() => undefined);
      vm.handle?.close();
      vm.handle = null;
      this.setState(vm, existsSync(vm.paths.saved) ? "saved" : "error", msg);
      if (this.opPending(vm)) this.setOp(vm, "failed", 60, msg);
      return false;
    }
  }

  private async boot(vm: LocalVm, engine: Engine): Promise<boolean> {
    const spec = vm.spec;
    const pending = this.opPending(vm);
    if (vm.stoppedGeneration === spec.generation && !pending) {
      this.setState(vm, "stopped", vm.stopReason);
      return false;
    }
    this.setState(vm, "starting");
    try {
      // A clone's first start resumes its source's snapshot; later starts boot afresh.
      const cloneMarker = join(vm.paths.dir, "clone-started");
      const fromSnapshot = spec.cloneOf?.mode === "memory" && spec.cloneOf.snapshotId && !existsSync(cloneMarker) ? snapshotDir(vm.paths, spec.cloneOf.snapshotId) : undefined;
      await engine.start(spec, vm.paths, fromSnapshot);
      if (fromSnapshot) writeFileAtomic(cloneMarker, "1\n");
      await this.attach(vm, engine);
    } catch (e) {
      // Could not tell whether it already runs: not a failed start, the VM is left as it is.
      if (e instanceof EngineLookupError) throw e;
      const msg = e instanceof EngineError ? e.message : `The VM failed to start: ${(e as Error).message}`;
      vm.stoppedGeneration = spec.generation;
      vm.stopReason = msg;
      this.setState(vm, "error", msg);
      if (pending) this.setOp(vm, "failed", 90, msg);
      this.persist(vm);
      return false;
    }
    vm.stoppedGeneration = null;
    vm.stopReason = null;
    this.persist(vm);
    return true;
  }

  /**
   * Runs the room of the VM's operation (reconcile/operations/). A live room works on the VM as it
   * is (attached first when it runs); a failed one is reported with its reason and, if its room
   * says so, tidies after itself. A room done by state leaves the verdict to finish().
   */
  private async runRoom(vm: LocalVm, engine: Engine, room: NodeOperationRoom<OperationKind>, wasRunning: boolean): Promise<void> {
    const spec = vm.spec;
    const op = spec.op!;
    const { from, to } = room.plan;
    const progress = (p: number) => this.setOp(vm, "running", Math.max(from, Math.min(to, p)));
    const ctx: OpRunContext<OperationKind> = {
      op, spec, paths: vm.paths, engine, storage: engine.storage,
      handle: () => vm.handle,
      live: () => engine.liveDisk(vm.paths, vm.handle),
      progress,
      fault: (step) => this.fault(op.kind, step, vm, engine),
      markStarting: () => this.setState(vm, "starting"),
      stopEngine: async () => {
        vm.stopping = true;
        await engine.stop(vm.paths, vm.handle);
        vm.handle?.close();
        vm.handle = null;
      },
      attach: () => this.attach(vm, engine),
      clearStoppedByItself: () => {
        vm.stoppedGeneration = null;
        vm.stopReason = null;
        this.persist(vm);
      },
    };
    if (room.needsRunning || room.phase === "revert") vm.stopping = true;
    try {
      if (room.phase === "live" && !room.doneByState) progress(from);
      if (room.phase === "live" && wasRunning && (!vm.handle || vm.handle.isClosed)) await this.attach(vm, engine);
      const bytes = await room.run(ctx);
      if (!room.doneByState) this.setOp(vm, "succeeded", 100, undefined, bytes ?? undefined);
    } catch (e) {
      this.setOp(vm, "failed", room.cleanupOnFailure ? (vm.lastOp?.progress ?? 50) : 50, (e as Error).message);
      if (room.cleanupOnFailure) {
        await this.tidy(vm, engine).catch(() => undefined);
        // A snapshot pauses a running VM; whatever failed, it goes on.
        if (vm.handle && !vm.handle.isClosed && spec.desiredState === "running" && (await engine.isPaused(vm.handle).catch(() => false))) {
          await engine.resume(vm.handle).catch(() => undefined);
        }
      }
    } finally {
      if (room.needsRunning || room.phase === "revert") vm.stopping = false;
    }
  }

  /** Pause/resume, then report the state reached and close a plain state operation. */
  private async finish(vm: LocalVm, engine: Engine): Promise<void> {
    const spec = vm.spec;
    const nowRunning = engine.runningPid(vm.paths) !== null;
    // Pause and resume: the process stays, its vCPUs freeze or thaw.
    let paused = false;
    if (nowRunning && vm.handle && !vm.handle.isClosed) {
      try {
        paused = await engine.isPaused(vm.handle);
        if (spec.desiredState === "paused" && !paused) { await engine.pause(vm.handle); paused = true; }
        if (spec.desiredState === "running" && paused) { await engine.resume(vm.handle); paused = false; }
      } catch (e) {
        if (this.opPending(vm)) this.setOp(vm, "failed", 50, (e as Error).message);
      }
    }
    const saved = !nowRunning && existsSync(vm.paths.saved);
    this.setState(vm, nowRunning ? (paused ? "paused" : "running") : saved ? "saved" : "stopped", nowRunning || saved ? null : vm.stopReason);
    if (this.opPending(vm)) {
      const reached = spec.desiredState === "running" ? nowRunning && !paused
        : spec.desiredState === "paused" ? paused
        : spec.desiredState === "saved" ? saved
        : !nowRunning;
      // (a snapshot that succeeded or failed has already said so above)
      this.setOp(vm, reached ? "succeeded" : "failed", 100, reached ? undefined : `The VM did not reach ${spec.desiredState}`);
    }
  }

  private async attach(vm: LocalVm, engine: Engine): Promise<void> {
    vm.handle?.close();
    vm.watch?.close();
    vm.watch = null;
    const handle = await engine.attach(vm.paths);
    vm.handle = handle;
    // Whichever hears first waits a moment for the other when the other may know better: the
    // pidfd knows a kill's signal, the handle knows a guest power-off.
    handle.onExit((reason) => {
      if (vm.watch) setTimeout(() => this.engineGone(vm, handle, reason), REASON_GRACE_MS).unref();
      else this.engineGone(vm, handle, reason);
    });
    // The process itself, by pidfd: a kill from outside is heard the moment it happens (and the
    // agent reaps its own engines).
    const pid = engine.runningPid(vm.paths);
    const watch = pid === null ? null : this.opts.supervisor?.watch(pid, vm.paths.controlSock, (exit) => {
      if (vm.watch !== watch) return;
      vm.watch = null;
      const why = `The VM's engine was ${describeExit(exit)}`;
      if (exit.signal !== null) this.engineGone(vm, handle, why);
      else setTimeout(() => this.engineGone(vm, handle, why), REASON_GRACE_MS).unref();
    }, { reap: !engine.spawnedChild }) ?? null;
    vm.watch = watch;
  }

  /**
   * The engine behind `handle` went away on its own: a guest power-off or a crash (a stop the
   * agent asked for is not). Told by the handle or by the pidfd, whichever is first; the VM is
   * not restarted behind the user's back.
   */
  private engineGone(vm: LocalVm, handle: VmHandle, reason: string): void {
    if (vm.handle !== handle) return;
    vm.handle = null;
    handle.close();
    vm.watch?.close();
    vm.watch = null;
    if (vm.stopping || (vm.spec.desiredState !== "running" && vm.spec.desiredState !== "paused")) return;
    vm.stoppedGeneration = vm.spec.generation;
    vm.stopReason = reason;
    if (existsSync(vm.paths.dir)) this.persist(vm);
    this.setState(vm, "stopped", vm.stopReason);
  }

  /** What the portal should know: every VM's state and its operation's progress. */
  report(): VmReport[] {
    const out: VmReport[] = [...this.failedCreates.values()];
    for (const vm of this.vms.values()) {
      const op = vm.lastOp && vm.spec.op && vm.lastOp.id === vm.spec.op.id ? vm.lastOp : null;
      out.push({ id: vm.id, state: vm.state, reason: vm.reason, op });
    }
    return out;
  }

  /** The RFB socket of a running VM on this node, for the console gateway. */
  displayOf(vmId: string): string | null {
    const vm = this.vms.get(vmId);
    const engine = vm && this.engines[vm.spec.engine];
    if (!vm || !engine || (vm.state !== "running" && vm.state !== "paused") || this.surelyStopped(vm, engine)) return null;
    return vm.paths.vncSock;
  }

  /** Where a running desktop VM here takes RDP, or why it does not, for the gateway's RDP row. */
  rdpOf(vmId: string): RdpEndpoint | string {
    const vm = this.vms.get(vmId);
    const engine = vm && this.engines[vm.spec.engine];
    if (!vm || !engine || (vm.state !== "running" && vm.state !== "paused") || this.surelyStopped(vm, engine)) return "VM is not running on this node";
    return engine.rdpEndpoint ? engine.rdpEndpoint(vm.paths) : "this VM's engine has no RDP";
  }

  paths(vmId: string): VmPaths | null {
    return this.vms.get(vmId)?.paths ?? null;
  }

  async shutdown(): Promise<void> {
    for (const vm of this.vms.values()) {
      vm.watch?.close();
      vm.handle?.close();
    }
  }
}
