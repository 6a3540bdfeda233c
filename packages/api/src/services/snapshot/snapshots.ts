// Snapshots of a VM as a tree: take one (disk only, or with RAM), go back to any of them,
// delete one (refused while a linked clone reads from it), clone a new VM from one.
import type { Db } from "@vdi/db";
import type { Actor } from "../../context.ts";
import { AppError } from "../../errors.ts";
import { changeVmState } from "../vm/change-vm-state.ts";
import { createVm } from "../vm/create-vm.ts";
import { visibleVms } from "../vm/vm-access.ts";
import { snapshotIntent } from "../operation/snapshot.ts";
import { snapshotDeleteIntent } from "../operation/snapshot-delete.ts";
import { traitsOf } from "@vdi/node-protocol";

type Deps = { db: Db; nodeDownAfterMs: number; ip: string | null };

async function requireVm(db: Db, actor: Actor, vmId: string) {
  const vm = await db.vm.findFirst({ where: { id: vmId, ...visibleVms(actor) }, include: { template: true } });
  if (!vm) throw new AppError("NOT_FOUND", { message: "VM not found" });
  return vm;
}

async function requireSnapshot(db: Db, actor: Actor, snapshotId: string) {
  const snap = await db.snapshot.findFirst({ where: { id: snapshotId, tenantId: actor.tenantId } });
  if (!snap || !(await db.vm.findFirst({ where: { id: snap.vmId, ...visibleVms(actor) }, select: { id: true } }))) {
    throw new AppError("NOT_FOUND", { message: "Snapshot not found" });
  }
  if (snap.status !== "ready") throw new AppError("INVALID_STATE", { message: `Snapshot "${snap.name}" is ${snap.status === "creating" ? "not complete yet" : "being deleted"}` });
  return snap;
}

/** The VM's snapshots, oldest first, each with its parent; `current` is where the VM is now. */
export async function listSnapshots(db: Db, actor: Actor, vmId: string) {
  const vm = await requireVm(db, actor, vmId);
  const rows = await db.snapshot.findMany({ where: { vmId, tenantId: actor.tenantId }, orderBy: { createdAt: "asc" } });
  const clones = await db.vm.findMany({
    where: { cloneOfVmId: vmId, ...visibleVms(actor), desiredState: { not: "deleted" } },
    select: { id: true, name: true, cloneOfSnapshotId: true, cloneMode: true },
  });
  return {
    currentSnapshotId: vm.currentSnapshotId,
    snapshots: rows.map((s) => ({
      id: s.id, name: s.name, description: s.description, parentId: s.parentId, status: s.status, includesRam: s.includesRam,
      sizeBytes: Number(s.sizeBytes), createdAt: s.createdAt,
      clones: clones.filter((c) => c.cloneOfSnapshotId === s.id).map((c) => ({ id: c.id, name: c.name, mode: c.cloneMode })),
    })),
  };
}

export async function takeSnapshot(deps: Deps, actor: Actor, input: { vmId: string; name: string; description?: string | undefined; withRam?: boolean | undefined }) {
  const vm = await requireVm(deps.db, actor, input.vmId);
  const isMicroVm = traitsOf(vm.template.engine).snapshotsHoldMemory;  // its snapshots are memory and device state
  const live = vm.actualState === "running" || vm.actualState === "paused";
  // MicroVMs have no disk: their snapshots are memory and device state. QEMU VMs default to RAM when running.
  const withRam = isMicroVm ? true : (input.withRam ?? live);
  if (withRam && !live) {
    throw new AppError("INVALID_STATE", { message: isMicroVm
      ? `A microVM snapshot holds its memory: start "${vm.name}" first`
      : `"${vm.name}" is ${vm.actualState}: a snapshot with memory needs a running VM (take a disk-only snapshot instead)` });
  }
  let snapshotId = "";
  const r = await changeVmState(deps, actor, { vmId: input.vmId, action: "snapshot" }, async (tx, v) => {
    const arg = await snapshotIntent(tx, v, { name: input.name, description: input.description, withRam });
    snapshotId = arg.snapshotId;
    return arg;
  });
  return { ...r, snapshotId };
}

/** Back to any snapshot of the tree. With RAM the VM runs on from there; disk-only leaves it stopped. */
export async function restoreSnapshot(deps: Deps, actor: Actor, snapshotId: string) {
  const snap = await requireSnapshot(deps.db, actor, snapshotId);
  const vm = await requireVm(deps.db, actor, snap.vmId);
  if (!snap.includesRam && (vm.actualState === "running" || vm.actualState === "paused")) {
    throw new AppError("INVALID_STATE", {
      message: `Snapshot "${snap.name}" has no memory state: stop "${vm.name}" before going back to it (its running memory would not match the disk)`,
    });
  }
  return changeVmState(deps, actor, { vmId: snap.vmId, action: "restore", desired: snap.includesRam ? "running" : "stopped" },
    async () => ({ snapshotId: snap.id }));
}

export async function deleteSnapshot(deps: Deps, actor: Actor, snapshotId: string) {
  const snap = await requireSnapshot(deps.db, actor, snapshotId);
  return changeVmState(deps, actor, { vmId: snap.vmId, action: "snapshot-delete" }, (tx, v) => snapshotDeleteIntent(tx, v, actor, snap));
}

/**
 * A new VM on the same node with its own identity (name, MAC, SMBIOS serial): linked (a layer on
 * the snapshot's disk), full (an independent copy of the snapshot's or the stopped VM's disk), or,
 * for microVMs, resuming the snapshot's memory.
 */
export async function cloneVm(deps: Deps, actor: Actor, input: { vmId: string; snapshotId?: string | undefined; name: string; mode: "linked" | "full" }) {
  const source = await requireVm(deps.db, actor, input.vmId);
  if (source.desiredState === "deleted") throw new AppError("INVALID_STATE", { message: `"${source.name}" is being deleted` });
  const snap = input.snapshotId ? await requireSnapshot(deps.db, actor, input.snapshotId) : null;
  if (snap && snap.vmId !== source.id) throw new AppError("NOT_FOUND", { message: "Snapshot not found" });
  const traits = traitsOf(source.template.engine);
  const isMicroVm = !traits.hasDisk;
  if (isMicroVm && !snap) throw new AppError("INVALID_INPUT", { message: "MicroVMs are cloned from a snapshot" });
  if (!isMicroVm && input.mode === "linked" && !snap) throw new AppError("INVALID_INPUT", { message: "A linked clone is made from a snapshot; pick one, or make a full clone" });
  if (!isMicroVm && !snap && source.actualState !== "stopped") {
    throw new AppError("INVALID_STATE", { message: `"${source.name}" is ${source.actualState}: stop it for a full clone of its current disk, or clone a snapshot` });
  }
  const mode = isMicroVm ? traits.defaultCloneMode : input.mode;
  return createVm(deps, actor, { templateId: source.templateId, name: input.name, cpus: source.cpus, memoryMiB: source.memoryMiB }, {
    nodeId: source.nodeId,
    cloneOf: { vmId: source.id, snapshotId: snap?.id ?? null, mode },
    diskGiB: source.diskGiB,
  });
}

export async function cloneFromSnapshot(deps: Deps, actor: Actor, input: { snapshotId: string; name: string; mode: "linked" | "full" }) {
  const snap = await requireSnapshot(deps.db, actor, input.snapshotId);
  return cloneVm(deps, actor, { vmId: snap.vmId, snapshotId: snap.id, name: input.name, mode: input.mode });
}
