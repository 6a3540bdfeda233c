// The tenant's VMs, newest first, a page at a time (keyset pagination on creation time and id).
import type { Db } from "@vdi/db";
import type { Actor } from "../../context.ts";
import { AppError } from "../../errors.ts";
import { decodeVmCursor, toVmView, vmViewInclude, withLastOperations } from "./vm-view.ts";
import { visibleVms } from "./vm-access.ts";

export const VM_PAGE_DEFAULT = 100;
/** Bounds every query of a page: one page binds at most this many ids (SQLite's driver allows ~999). */
export const VM_PAGE_MAX = 500;

export interface VmPageRequest {
  cursor?: string | null | undefined;
  direction?: "after" | "before" | undefined;
  limit?: number | undefined;
}

/**
 * One page: with no cursor the newest VMs; "after" a cursor the older ones that follow it, "before"
 * a cursor the newer ones that precede it (the page before). A page shorter than its limit is the
 * last one in that direction. Each VM carries its own cursor.
 */
export async function listVms(deps: { db: Db; nodeDownAfterMs: number }, actor: Actor, page: VmPageRequest = {}) {
  const limit = Math.min(page.limit ?? VM_PAGE_DEFAULT, VM_PAGE_MAX);
  const before = page.direction === "before";
  const at = page.cursor ? decodeVmCursor(page.cursor) : null;
  if (page.cursor && !at) throw new AppError("INVALID_INPUT", { message: "Invalid cursor: pass the cursor of a VM from the list" });
  const past = (v: { createdAt: Date; id: string }) => (before ? { gt: v.createdAt } : { lt: v.createdAt });
  const keyset = at ? { OR: [{ createdAt: past(at) }, { createdAt: at.createdAt, id: before ? { gt: at.id } : { lt: at.id } }] } : {};
  const order = before ? "asc" : "desc";
  const rows = await deps.db.vm.findMany({
    where: { AND: [visibleVms(actor), keyset] },
    include: vmViewInclude,
    orderBy: [{ createdAt: order }, { id: order }],
    take: limit,
  });
  if (before) rows.reverse();
  return (await withLastOperations(deps.db, rows)).map((vm) => toVmView(vm, deps.nodeDownAfterMs));
}

export async function getVm(deps: { db: Db; nodeDownAfterMs: number }, actor: Actor, vmId: string) {
  // Another tenant's VM is reported as missing, never as forbidden: its existence is not ours to reveal.
  const vm = await deps.db.vm.findFirst({ where: { id: vmId, ...visibleVms(actor) }, include: vmViewInclude });
  if (!vm) throw new AppError("NOT_FOUND", { message: "VM not found" });
  return toVmView((await withLastOperations(deps.db, [vm]))[0]!, deps.nodeDownAfterMs);
}
