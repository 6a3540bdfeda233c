// Snapshots of a VM (microVMs: RAM and device state), restoring one, and cloning from one.
import type { Db } from "@vdi/db";
import type { Actor } from "../../context.ts";
import { AppError } from "../../errors.ts";
import { changeVmState } from "../vm/change-vm-state.ts";
import { createVm } from "../vm/create-vm.ts";

type Deps = { db: Db; nodeDownAfterMs: number; ip: string | null };

async function requireMicroVm(db: Db, actor: Actor, vmId: string) {
  const vm = await db.vm.findFirst({ where: { id: vmId, tenantId: actor.tenantId }, include: { template: true } });
  if (!vm) throw new AppError("NOT_FOUND", { message: "VM not found" });
  if (vm.template.engine !== "kvm") {
    throw new AppError("INVALID_STATE", { message: `Snapshots are available for microVMs; "${vm.name}" runs on QEMU` });
  }
  return vm;
}

async function requireSnapshot(db: Db, actor: Actor, snapshotId: string) {
  const snap = await db.snapshot.findFirst({ where: { id: snapshotId, tenantId: actor.tenantId } });
  if (!snap) throw new AppError("NOT_FOUND", { message: "Snapshot not found" });
  if (snap.status !== "ready") throw new AppError("INVALID_STATE", { message: `Snapshot "${snap.name}" is not complete yet` });
  return snap;
}

export async function listSnapshots(db: Db, actor: Actor, vmId: string) {
  const rows = await db.snapshot.findMany({ where: { vmId, tenantId: actor.tenantId }, orderBy: { createdAt: "desc" } });
  return rows.map((s) => ({ id: s.id, name: s.name, status: s.status, includesRam: s.includesRam, sizeBytes: Number(s.sizeBytes), createdAt: s.createdAt }));
}

export async function takeSnapshot(deps: Deps, actor: Actor, input: { vmId: string; name: string }) {
  await requireMicroVm(deps.db, actor, input.vmId);
  let snapshotId = "";
  const r = await changeVmState(deps, actor, { vmId: input.vmId, action: "snapshot" }, async (tx, vm) => {
    if (await tx.snapshot.findFirst({ where: { vmId: vm.id, name: input.name }, select: { id: true } })) {
      throw new AppError("CONFLICT", { message: `"${vm.name}" already has a snapshot named "${input.name}"` });
    }
    const snap = await tx.snapshot.create({ data: { vmId: vm.id, tenantId: vm.tenantId, name: input.name, includesRam: true } });
    snapshotId = snap.id;
    return snap.id;
  });
  return { ...r, snapshotId };
}

export async function restoreSnapshot(deps: Deps, actor: Actor, snapshotId: string) {
  const snap = await requireSnapshot(deps.db, actor, snapshotId);
  await requireMicroVm(deps.db, actor, snap.vmId);
  return changeVmState(deps, actor, { vmId: snap.vmId, action: "restore" }, async () => snap.id);
}

/** A new VM on the same node that starts where the snapshot was, with its own identity. */
export async function cloneFromSnapshot(deps: Deps, actor: Actor, input: { snapshotId: string; name: string }) {
  const snap = await requireSnapshot(deps.db, actor, input.snapshotId);
  const source = await requireMicroVm(deps.db, actor, snap.vmId);
  return createVm(deps, actor, { templateId: source.templateId, name: input.name, cpus: source.cpus, memoryMiB: source.memoryMiB }, {
    nodeId: source.nodeId,
    cloneOf: { vmId: source.id, snapshotId: snap.id },
  });
}
