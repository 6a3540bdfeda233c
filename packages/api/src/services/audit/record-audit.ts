// Appends one audit event. Never updates or deletes.
import type { Db } from "@vdi/db";
import type { Actor } from "../../context.ts";

export interface AuditEntry {
  action: string;
  targetType: string;
  targetId?: string | null;
  outcome: "ok" | "denied" | "error";
  detail?: string;
  actorEmail?: string | null;
  via?: string;
  /** The tenant the event belongs to, when it is not the actor's (a platform admin acting on another tenant). */
  tenantId?: string | null;
}

export async function recordAudit(db: Db, actor: Actor | null, ip: string | null, e: AuditEntry): Promise<void> {
  await db.auditEvent.create({
    data: {
      actorId: actor?.userId ?? null,
      actorEmail: e.actorEmail ?? actor?.email ?? null,
      via: e.via ?? "session",
      tenantId: e.tenantId ?? actor?.tenantId ?? null,
      action: e.action,
      targetType: e.targetType,
      targetId: e.targetId ?? null,
      outcome: e.outcome,
      detail: e.detail?.slice(0, 1000) ?? null,
      ip,
    },
  });
}
