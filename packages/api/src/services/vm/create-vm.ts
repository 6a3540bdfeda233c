// Creates a VM from a template: validate against the template and quota, place it, record it.
// The node then prepares the disk and boots it; the Operation tracks that.
import { randomBytes } from "node:crypto";
import type { Db } from "@vdi/db";
import type { Actor } from "../../context.ts";
import { AppError } from "../../errors.ts";
import { bus, nodeTopic, tenantTopic } from "../../lib/bus.ts";
import { placeVm } from "./place-vm.ts";
import type { PlacementPolicy } from "./placement.ts";
import { checkVmQuota, lockTenantQuota } from "../tenant/quota.ts";

export interface CreateVmInput {
  templateId: string;
  name: string;
  cpus?: number | undefined;
  memoryMiB?: number | undefined;
}

/** A locally administered, unicast MAC in QEMU's 52:54:00 range. */
function newMac(): string {
  const b = randomBytes(3);
  return ["52", "54", "00", ...[...b].map((x) => x.toString(16).padStart(2, "0"))].join(":");
}

export async function createVm(
  deps: { db: Db; nodeDownAfterMs: number; ip: string | null; placement?: PlacementPolicy | undefined },
  actor: Actor,
  input: CreateVmInput,
  clone?: { nodeId: string; cloneOf: { vmId: string; snapshotId: string | null; mode: "memory" | "linked" | "full" }; diskGiB: number },
) {
  const { db } = deps;
  const template = await db.template.findFirst({
    where: { id: input.templateId, OR: [{ tenantId: null }, { tenantId: actor.tenantId }] },
  });
  if (!template) throw new AppError("NOT_FOUND", { message: "Template not found" });

  if (template.status !== "ready") throw new AppError("INVALID_STATE", { message: `Template "${template.title}" is still being made` });
  // Clones copy a VM, not the template: a retired template's VMs keep being cloned, snapshotted and resized.
  if (template.retiredAt && !clone) throw new AppError("INVALID_STATE", { message: `Template "${template.title}" is retired: no new VMs are made from it` });
  const cpus = input.cpus ?? template.defaultCpus;
  const diskGiB = clone?.diskGiB ?? template.diskGiB;
  const memoryMiB = input.memoryMiB ?? template.defaultMemoryMiB;
  if (cpus < 1 || cpus > template.maxCpus) {
    throw new AppError("INVALID_INPUT", { message: `CPUs must be between 1 and ${template.maxCpus} for ${template.title}` });
  }
  if (memoryMiB < template.minMemoryMiB || memoryMiB > template.maxMemoryMiB) {
    throw new AppError("INVALID_INPUT", {
      message: `Memory must be between ${template.minMemoryMiB} and ${template.maxMemoryMiB} MiB for ${template.title}`,
    });
  }

  // A clone must run where its snapshot's files are.
  const { node, explanation } = await placeVm(db, deps.nodeDownAfterMs, { engine: template.engine, image: template.image, cpus, memoryMiB, onlyNodeId: clone?.nodeId ?? template.nodeId ?? undefined }, deps.placement);

  const created = await db.$transaction(async (tx) => {
    // A full clone of the current disk reads it while it is copied: the source must stay stopped.
    // Its row is claimed on the last operation read here: an action at this moment changes that
    // (and a start that waited for this row then sees the copy and is refused), one that came
    // first is seen here by its operation. Other clones leave the row as it is, so clones of one
    // VM do not exclude each other. A VM whose guest powered off (stopped, "running" still
    // desired) is copied as it is and now stays stopped: its node will not boot it mid-copy.
    // This row lock comes before the tenant's, in the order every VM action takes them.
    if (clone && !clone.cloneOf.snapshotId && clone.cloneOf.mode === "full") {
      const src = await tx.vm.findUnique({
        where: { id: clone.cloneOf.vmId },
        select: { lastOpId: true, actualState: true, desiredState: true, operations: { where: { status: { in: ["pending", "running"] } }, take: 1, select: { id: true } } },
      });
      const stopped = !!src && src.actualState === "stopped" && (src.desiredState === "stopped" || src.desiredState === "running") && src.operations.length === 0;
      const claimed = stopped ? await tx.vm.updateMany({ where: { id: clone.cloneOf.vmId, lastOpId: src.lastOpId, actualState: "stopped" }, data: { desiredState: "stopped" } }) : { count: 0 };
      if (claimed.count === 0) throw new AppError("INVALID_STATE", { message: "The VM to copy is no longer stopped: stop it for a full clone of its current disk, or clone a snapshot" });
    }
    // Then the tenant's lock: name and quota checks then see every committed create.
    const tenant = await lockTenantQuota(tx, actor.tenantId);
    // Retired, or moved to another tenant, since it was read above: checked again under the lock.
    if (!(await tx.template.findFirst({ where: { id: template.id, OR: [{ tenantId: null }, { tenantId: actor.tenantId }], ...(clone ? {} : { retiredAt: null }) }, select: { id: true } }))) {
      throw new AppError(clone ? "NOT_FOUND" : "INVALID_STATE", { message: clone ? "Template not found" : `Template "${template.title}" is retired: no new VMs are made from it` });
    }
    // The VM a clone is made from must not be going away (its delete takes the same lock).
    if (clone && !(await tx.vm.findFirst({ where: { id: clone.cloneOf.vmId, desiredState: { not: "deleted" } }, select: { id: true } }))) {
      throw new AppError("CONFLICT", { message: "The VM to clone is being deleted" });
    }
    // The snapshot a clone starts from must still be there (a delete takes the same lock).
    if (clone?.cloneOf.snapshotId && !(await tx.snapshot.findFirst({ where: { id: clone.cloneOf.snapshotId, status: "ready" }, select: { id: true } }))) {
      throw new AppError("CONFLICT", { message: "The snapshot is being deleted" });
    }
    if (await tx.vm.findFirst({ where: { tenantId: actor.tenantId, name: input.name }, select: { id: true } })) {
      throw new AppError("CONFLICT", { message: `A VM named "${input.name}" already exists` });
    }
    await checkVmQuota(tx, tenant, { ownerId: actor.userId, actorId: actor.userId, want: { cpus, memoryMiB, diskGiB } });
    const vm = await tx.vm.create({
      data: {
        name: input.name,
        tenantId: actor.tenantId,
        ownerId: actor.userId,
        templateId: template.id,
        nodeId: node.id,
        cpus,
        memoryMiB,
        diskGiB,
        macAddress: newMac(),
        desiredState: "running",
        actualState: "provisioning",
        cloneOfVmId: clone?.cloneOf.vmId ?? null,
        cloneOfSnapshotId: clone?.cloneOf.snapshotId ?? null,
        cloneMode: clone?.cloneOf.mode ?? null,
      },
    });
    const op = await tx.operation.create({
      data: { kind: "create", status: "pending", vmId: vm.id, vmName: vm.name, tenantId: actor.tenantId, userId: actor.userId, nodeId: node.id, detail: explanation },
    });
    return tx.vm.update({ where: { id: vm.id }, data: { lastOpId: op.id, lastOpKind: "create" } });
  });

  bus().emit(nodeTopic(node.id));
  bus().emit(tenantTopic(actor.tenantId));
  return { vmId: created.id, operationId: created.lastOpId! };
}
