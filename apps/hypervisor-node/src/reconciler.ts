// Brings each VM's actual state (QEMU process, disk, files) to the desired state from the
// portal, one VM at a time, and remembers enough on disk to re-attach after a restart.
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { join } from "node:path";
import { z } from "zod";
import type { DesiredVm, VmReport } from "@vdi/api/client";
import { writeFileAtomic } from "@vdi/api/atomic-write";
import { EngineError, vmPaths, type QemuEngine, type VmPaths } from "./engines/qemu/qemu-engine.ts";
import type { QmpClient } from "./engines/qemu/qmp-client.ts";

type VmState = VmReport["state"];
type OpReport = NonNullable<VmReport["op"]>;

const VM_ID = /^[a-z0-9]{1,64}$/;

const localRecordSchema = z.object({
  spec: z.custom<DesiredVm>((v) => typeof v === "object" && v !== null && "id" in v),
  lastOp: z.object({ id: z.string(), status: z.enum(["running", "succeeded", "failed"]), progress: z.number(), error: z.string().nullish() }).nullable(),
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
  qmp: QmpClient | null;
  stopping: boolean;
  shutdownEvent: boolean;
  queue: Promise<void>;
}

export class Reconciler {
  private readonly vms = new Map<string, LocalVm>();
  private readonly vmsDir: string;

  constructor(private readonly engine: QemuEngine, dataDir: string, private readonly onChange: () => void, private readonly log: (msg: string) => void) {
    this.vmsDir = join(dataDir, "vms");
    mkdirSync(this.vmsDir, { recursive: true });
  }

  /** Re-discovers VMs from their folders and re-attaches to running QEMU processes. */
  async loadFromDisk(): Promise<void> {
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
      const vm = this.newLocal(id, rec.data);
      this.vms.set(id, vm);
      if (this.engine.runningPid(vm.paths) !== null) {
        await this.attach(vm).catch((e: Error) => this.log(`vm ${id}: QEMU runs but QMP failed: ${e.message}`));
        vm.state = "running";
        this.log(`vm ${id}: re-attached to running QEMU`);
      } else {
        vm.state = existsSync(vm.paths.disk) ? "stopped" : "provisioning";
      }
    }
  }

  private newLocal(id: string, rec: LocalRecord): LocalVm {
    return { ...rec, id, paths: vmPaths(join(this.vmsDir, id)), state: "provisioning", reason: null, qmp: null, stopping: false, shutdownEvent: false, queue: Promise.resolve() };
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
      vm.spec = spec;
      this.schedule(vm);
    }
    for (const id of this.failedCreates.keys()) if (!wanted.has(id)) this.failedCreates.delete(id);
    for (const vm of this.vms.values()) {
      // Gone from the portal: a failed create (nothing left here) or a confirmed delete is forgotten;
      // a VM with a disk is left untouched (the portal's database may have been restored).
      if (!wanted.has(vm.id) && (vm.state === "deleted" || (!existsSync(vm.paths.disk) && this.engine.runningPid(vm.paths) === null))) {
        rmSync(vm.paths.dir, { recursive: true, force: true });
        this.vms.delete(vm.id);
      }
    }
  }

  /** Re-checks every VM (QEMU may have died while nobody watched). */
  resync(): void {
    for (const vm of this.vms.values()) if (vm.state !== "deleted") this.schedule(vm);
  }

  private schedule(vm: LocalVm): void {
    vm.queue = vm.queue.then(() => this.reconcile(vm)).catch((e: Error) => this.log(`vm ${vm.id}: ${e.message}`));
  }

  private setOp(vm: LocalVm, status: OpReport["status"], progress: number, error?: string): void {
    if (!vm.spec.op) return;
    vm.lastOp = { id: vm.spec.op.id, status, progress, error: error ?? null };
    if (status !== "running") this.persist(vm);
    this.onChange();
  }

  private opPending(vm: LocalVm): boolean {
    return !!vm.spec.op && !(vm.lastOp?.id === vm.spec.op.id && vm.lastOp.status !== "running");
  }

  private setState(vm: LocalVm, state: VmState, reason: string | null = null): void {
    if (vm.state !== state || vm.reason !== reason) {
      vm.state = state;
      vm.reason = reason;
      this.onChange();
    }
  }

  private async reconcile(vm: LocalVm): Promise<void> {
    const spec = vm.spec;
    const pending = this.opPending(vm);
    const running = this.engine.runningPid(vm.paths) !== null;

    if (spec.desiredState === "deleted") {
      this.setState(vm, "deleting");
      if (pending) this.setOp(vm, "running", 30);
      await this.engine.stop(vm.paths, vm.qmp);
      vm.qmp?.close();
      rmSync(vm.paths.dir, { recursive: true, force: true });
      if (pending) vm.lastOp = { id: spec.op!.id, status: "succeeded", progress: 100 };
      this.setState(vm, "deleted");
      return;
    }

    if (!existsSync(vm.paths.disk)) {
      if (pending) this.setOp(vm, "running", 10);
      this.setState(vm, "provisioning");
      try {
        await this.engine.createDisk(spec, vm.paths);
      } catch (e) {
        const msg = e instanceof EngineError ? e.message : `Cannot create the disk: ${(e as Error).message}`;
        // Leave nothing behind: the portal drops the VM when the create fails.
        rmSync(vm.paths.dir, { recursive: true, force: true });
        this.vms.delete(vm.id);
        this.failedCreates.set(vm.id, { id: vm.id, state: "error", reason: msg, op: spec.op ? { id: spec.op.id, status: "failed", progress: 10, error: msg } : null });
        this.onChange();
        return;
      }
      if (pending) this.setOp(vm, "running", 50);
      this.setState(vm, "stopped");
    }

    if (spec.desiredState === "running" && !running) {
      if (vm.stoppedGeneration === spec.generation && !pending) {
        this.setState(vm, "stopped", vm.stopReason);
        return;
      }
      this.setState(vm, "starting");
      try {
        await this.engine.start(spec, vm.paths);
        await this.attach(vm);
      } catch (e) {
        const msg = e instanceof EngineError ? e.message : `QEMU failed to start: ${(e as Error).message}`;
        vm.stoppedGeneration = spec.generation;
        vm.stopReason = msg;
        this.setState(vm, "error", msg);
        if (pending) this.setOp(vm, "failed", 90, msg);
        this.persist(vm);
        return;
      }
      vm.stoppedGeneration = null;
      vm.stopReason = null;
      this.persist(vm);
    } else if (spec.desiredState === "stopped" && running) {
      this.setState(vm, "stopping");
      vm.stopping = true;
      await this.engine.stop(vm.paths, vm.qmp);
      vm.stopping = false;
      vm.qmp?.close();
      vm.qmp = null;
    } else if (running && !vm.qmp) {
      await this.attach(vm).catch(() => undefined);
    }

    const nowRunning = this.engine.runningPid(vm.paths) !== null;
    if (nowRunning && pending && spec.op?.kind === "reboot") {
      await vm.qmp?.execute("system_reset");
    }
    this.setState(vm, nowRunning ? "running" : "stopped", nowRunning ? null : vm.stopReason);
    if (pending) {
      const reached = spec.desiredState === "running" ? nowRunning : !nowRunning;
      this.setOp(vm, reached ? "succeeded" : "failed", 100, reached ? undefined : `The VM did not reach ${spec.desiredState}`);
    }
  }

  private async attach(vm: LocalVm): Promise<void> {
    vm.qmp?.close();
    const qmp = await this.engine.connectQmp(vm.paths);
    vm.qmp = qmp;
    vm.shutdownEvent = false;
    qmp.on("event", (ev) => {
      if (ev.event === "SHUTDOWN" && ev.data?.guest === true) vm.shutdownEvent = true;
    });
    qmp.on("close", () => {
      if (vm.qmp !== qmp) return;
      vm.qmp = null;
      if (vm.stopping || vm.spec.desiredState !== "running") return;
      // QEMU went away on its own: a guest power-off or a crash. Do not restart it behind the user's back.
      vm.stoppedGeneration = vm.spec.generation;
      vm.stopReason = vm.shutdownEvent ? "The guest powered off" : "QEMU exited unexpectedly (see qemu.log on the node)";
      if (existsSync(vm.paths.dir)) this.persist(vm);
      this.setState(vm, "stopped", vm.stopReason);
    });
  }

  private readonly failedCreates = new Map<string, VmReport>();

  /** What the portal should know: every VM's state and its operation's progress. */
  report(): VmReport[] {
    const out: VmReport[] = [...this.failedCreates.values()];
    for (const vm of this.vms.values()) {
      const op = vm.lastOp && vm.spec.op && vm.lastOp.id === vm.spec.op.id ? vm.lastOp : null;
      out.push({ id: vm.id, state: vm.state, reason: vm.reason, op });
    }
    return out;
  }

  /** The VNC socket of a running VM on this node, for the console gateway. */
  displayOf(vmId: string): string | null {
    const vm = this.vms.get(vmId);
    if (!vm || vm.state !== "running" || this.engine.runningPid(vm.paths) === null) return null;
    return vm.paths.vncSock;
  }

  paths(vmId: string): VmPaths | null {
    return this.vms.get(vmId)?.paths ?? null;
  }

  async shutdown(): Promise<void> {
    for (const vm of this.vms.values()) vm.qmp?.close();
  }
}
