// One operation of the caller's tenant, and the latest operations of a VM.
import type { Db } from "@vdi/db";
import type { Actor } from "../../context.ts";
import { AppError } from "../../errors.ts";
import { tenantTopic, topicWatcher } from "../../lib/bus.ts";
import { visibleVms } from "../vm/vm-access.ts";

/** A tenant user's operations: on VMs they may see, and their own (a failed create has no VM). */
function visibleOperations(actor: Actor) {
  return actor.role === "user"
    ? { tenantId: actor.tenantId, OR: [{ userId: actor.userId }, { vm: { is: visibleVms(actor) } }] }
    : { tenantId: actor.tenantId };
}

const select = { id: true, kind: true, status: true, progress: true, error: true, vmId: true, vmName: true, createdAt: true, finishedAt: true };

export async function getOperation(db: Db, actor: Actor, id: string) {
  const op = await db.operation.findFirst({ where: { id, ...visibleOperations(actor) }, select });
  if (!op) throw new AppError("NOT_FOUND", { message: "Operation not found" });
  return op;
}

export async function listOperations(db: Db, actor: Actor, input: { vmId?: string | undefined; limit: number }) {
  return db.operation.findMany({
    where: { ...visibleOperations(actor), ...(input.vmId ? { vmId: input.vmId } : {}) },
    orderBy: { createdAt: "desc" },
    take: input.limit,
    select,
  });
}

/** The VM's latest operations, yielded again whenever one of them changes (progress included). */
export async function* watchOperations(db: Db, actor: Actor, input: { vmId: string; limit: number }, signal?: AbortSignal) {
  let last = "";
  const changes = topicWatcher(tenantTopic(actor.tenantId), signal);
  try {
    while (!signal?.aborted) {
      const ops = await listOperations(db, actor, input);
      const json = JSON.stringify(ops);
      if (json !== last) {
        last = json;
        yield ops;
      }
      await changes.wait(15_000);
    }
  } finally {
    changes.close();
  }
}
