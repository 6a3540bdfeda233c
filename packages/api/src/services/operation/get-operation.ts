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

const select = { id: true, kind: true, status: true, progress: true, error: true, detail: true, vmId: true, vmName: true, createdAt: true, finishedAt: true };

/**
 * The operation's log line (placement's reasons name every node and its load) is the platform
 * admins' to read; others get the operation without it.
 */
function forActor<T extends { detail: string | null }>(actor: Actor, op: T): T {
  return actor.role === "admin" ? op : { ...op, detail: null };
}

export async function getOperation(db: Db, actor: Actor, id: string) {
  const op = await db.operation.findFirst({ where: { id, ...visibleOperations(actor) }, select });
  if (!op) throw new AppError("NOT_FOUND", { message: "Operation not found" });
  return forActor(actor, op);
}

/** Naming a VM the caller may not see is refused, as everywhere else, rather than answered with an empty list. */
async function requireVisibleVm(db: Db, actor: Actor, vmId: string | undefined) {
  if (vmId && !(await db.vm.findFirst({ where: { id: vmId, ...visibleVms(actor) }, select: { id: true } }))) {
    throw new AppError("NOT_FOUND", { message: "VM not found" });
  }
}

export async function listOperations(db: Db, actor: Actor, input: { vmId?: string | undefined; limit: number }) {
  await requireVisibleVm(db, actor, input.vmId);
  return queryOperations(db, actor, input);
}

async function queryOperations(db: Db, actor: Actor, input: { vmId?: string | undefined; limit: number }) {
  const ops = await db.operation.findMany({
    where: { ...visibleOperations(actor), ...(input.vmId ? { vmId: input.vmId } : {}) },
    orderBy: { createdAt: "desc" },
    take: input.limit,
    select,
  });
  return ops.map((o) => forActor(actor, o));
}

/** The VM's latest operations, yielded again whenever one of them changes (progress included). */
export async function watchOperations(db: Db, actor: Actor, input: { vmId: string; limit: number }, signal?: AbortSignal) {
  // Checked once, before the stream starts (so the refusal is the procedure's answer): the VM
  // going away while watched ends in its delete operation, not an error.
  await requireVisibleVm(db, actor, input.vmId);
  return streamOperations(db, actor, input, signal);
}

async function* streamOperations(db: Db, actor: Actor, input: { vmId: string; limit: number }, signal?: AbortSignal) {
  let last = "";
  const changes = topicWatcher(tenantTopic(actor.tenantId), signal);
  try {
    while (!signal?.aborted) {
      const ops = await queryOperations(db, actor, input);
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
