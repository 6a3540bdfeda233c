// Creates a VM from a template: validate against the template and quota, place it, record it.
// The node then prepares the disk and boots it; the Operation tracks that.
import { randomBytes } from "node:crypto";
import type { Db } from "@vdi/db";
import type { Actor } from "../../context.ts";
import { AppError } from "../../errors.ts";
import { bus, nodeTopic, tenantTopic } from "../../lib/bus.ts";
import { placeVm } from "./place-vm.ts";
import { lockTenantQuota } from "../tenant/quota.ts";

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
  deps: { db: Db; nodeDownAfterMs: number; ip: string | null },
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
  const node = await placeVm(db, deps.nodeDownAfterMs, { engine: template.engine, image: template.image, memoryMiB, onlyNodeId: clone?.nodeId ?? template.nodeId ?? undefined });

  const created = await db.$transaction(async (tx) => {
    // First the tenant's lock: name and quota checks then see every committed create.
    const tenant = await lockTenantQuota(tx, actor.tenantId);
    // The snapshot a clone starts from must still be there (a delete takes the same lock).
    if (clone?.cloneOf.snapshotId && !(await tx.snapshot.findFirst({ where: { id: clone.cloneOf.snapshotId, status: "ready" }, select: { id: true } }))) {
      throw new AppError("CONFLICT", { message: "The snapshot is being deleted" });
    }
    if (await tx.vm.findFirst({ where: { tenantId: actor.tenantId, name: input.name }, select: { id: true } })) {
      throw new AppError("CONFLICT", { message: `A VM named "${input.name}" already exists` });
    }
    const usage = await tx.vm.aggregate({ where: { tenantId: actor.tenantId }, _count: true, _sum: { cpus: true, memoryMiB: true, diskGiB: true } });
    if (usage._count + 1 > tenant.maxVms) throw new AppError("QUOTA_EXCEEDED", { message: `Quota reached: at most ${tenant.maxVms} VMs` });
    if ((usage._sum.cpus ?? 0) + cpus > tenant.maxVcpus) {
      throw new AppError("QUOTA_EXCEEDED", { message: `Quota reached: ${tenant.maxVcpus} vCPUs in all (${usage._sum.cpus ?? 0} in use)` });
    }
    if ((usage._sum.memoryMiB ?? 0) + memoryMiB > tenant.maxMemoryMiB) {
      throw new AppError("QUOTA_EXCEEDED", { message: `Quota reached: ${tenant.maxMemoryMiB} MiB of memory in all (${usage._sum.memoryMiB ?? 0} in use)` });
    }
    if ((usage._sum.diskGiB ?? 0) + diskGiB > tenant.maxDiskGiB) {
      throw new AppError("QUOTA_EXCEEDED", { message: `Quota reached: ${tenant.maxDiskGiB} GiB of disk in all (${usage._sum.diskGiB ?? 0} GiB in use)` });
    }
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
      data: { kind: "create", status: "pending", vmId: vm.id, vmName: vm.name, tenantId: actor.tenantId, userId: actor.userId, nodeId: node.id },
    });
    return tx.vm.update({ where: { id: vm.id }, data: { lastOpId: op.id, lastOpKind: "create" } });
  });

  bus().emit(nodeTopic(node.id));
  bus().emit(tenantTopic(actor.tenantId));
  return { vmId: created.id, operationId: created.lastOpId! };
}
