// One operation of the caller's tenant, and the latest operations of a VM.
import type { Db } from "@vdi/db";
import type { Actor } from "../../context.ts";
import { AppError } from "../../errors.ts";

const select = { id: true, kind: true, status: true, progress: true, error: true, vmId: true, vmName: true, createdAt: true, finishedAt: true };

export async function getOperation(db: Db, actor: Actor, id: string) {
  const op = await db.operation.findFirst({ where: { id, tenantId: actor.tenantId }, select });
  if (!op) throw new AppError("NOT_FOUND", { message: "Operation not found" });
  return op;
}

export async function listOperations(db: Db, actor: Actor, input: { vmId?: string | undefined; limit: number }) {
  return db.operation.findMany({
    where: { tenantId: actor.tenantId, ...(input.vmId ? { vmId: input.vmId } : {}) },
    orderBy: { createdAt: "desc" },
    take: input.limit,
    select,
  });
}
