// The audit trail for administrators: platform admins see every tenant, tenant admins their own.
import type { Db } from "@vdi/db";
import type { Actor } from "../../context.ts";
import { AppError } from "../../errors.ts";

export interface AuditFilter {
  tenantId?: string | undefined;
  actor?: string | undefined;       // email (substring) or user id
  action?: string | undefined;      // prefix, e.g. "vm." or "snapshot.create"
  outcome?: "ok" | "denied" | "error" | undefined;
  targetId?: string | undefined;
  from?: Date | undefined;
  to?: Date | undefined;
  cursor?: string | undefined;
  limit: number;
}

export async function listAudit(db: Db, actor: Actor, f: AuditFilter) {
  // A tenant admin naming another tenant is refused, not quietly shown their own trail.
  if (actor.role !== "admin" && f.tenantId && f.tenantId !== actor.tenantId) throw new AppError("NOT_FOUND", { message: "Tenant not found" });
  const tenantId = actor.role === "admin" ? f.tenantId : actor.tenantId;
  const rows = await db.auditEvent.findMany({
    where: {
      ...(tenantId ? { tenantId } : {}),
      ...(f.actor ? { OR: [{ actorId: f.actor }, { actorEmail: { contains: f.actor.toLowerCase() } }] } : {}),
      ...(f.action ? { action: { startsWith: f.action } } : {}),
      ...(f.outcome ? { outcome: f.outcome } : {}),
      ...(f.targetId ? { targetId: f.targetId } : {}),
      ...(f.from || f.to ? { at: { ...(f.from ? { gte: f.from } : {}), ...(f.to ? { lte: f.to } : {}) } } : {}),
    },
    orderBy: [{ at: "desc" }, { id: "desc" }],
    take: f.limit + 1,
    ...(f.cursor ? { cursor: { id: f.cursor }, skip: 1 } : {}),
  });
  const more = rows.length > f.limit;
  const events = rows.slice(0, f.limit);
  return { events, nextCursor: more ? events.at(-1)!.id : null };
}
