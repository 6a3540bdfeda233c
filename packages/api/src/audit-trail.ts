// Every state-changing call (each mutation) leaves one append-only audit event: who (user, and
// whether through a session or an API token), tenant, what (the procedure), target, outcome,
// source IP, time. Queries are not recorded; node state reports (nodeAgent.sync) neither: they are
// the node telling what is, every few seconds, not a change anyone asked for.
import type { Context } from "./context.ts";
import { recordAudit } from "./services/audit/record-audit.ts";

const NOT_AUDITED = new Set(["nodeAgent.sync"]);
/** Input fields safe to keep in the trail (never passwords, tokens or codes). */
const KEPT = ["name", "title", "mode", "scope", "cpus", "memoryMiB", "diskGiB", "withRam", "role", "email", "scopes", "expiresInDays", "templateId"];
const TARGETS = [["vmId", "vm"], ["snapshotId", "snapshot"], ["operationId", "operation"], ["templateId", "template"], ["tokenId", "apiToken"], ["userId", "user"], ["invitationId", "invitation"], ["tenantId", "tenant"]] as const;

function summarize(input: unknown): string | undefined {
  if (!input || typeof input !== "object") return undefined;
  const o = input as Record<string, unknown>;
  const parts = KEPT.filter((k) => k in o && o[k] !== undefined).map((k) => `${k}=${JSON.stringify(o[k]).slice(0, 100)}`);
  return parts.length ? parts.join(" ") : undefined;
}

function targetOf(input: unknown, result: unknown): { type: string; id: string | null } {
  const obj = (x: unknown) => (x && typeof x === "object" ? (x as Record<string, unknown>) : {});
  const i = obj(input), r = obj(result);
  // The most specific kind of id wins, from the input or else the result (a create's new VM).
  for (const [key, type] of TARGETS) {
    const v = typeof i[key] === "string" ? i[key] : r[key];
    if (typeof v === "string") return { type, id: v.slice(0, 64) };
  }
  return { type: "none", id: null };
}

const DENIED = new Set(["UNAUTHORIZED", "FORBIDDEN", "NOT_FOUND"]);

export async function auditCall(
  ctx: Context & { node?: { id: string } | undefined },
  call: { path: string; type: string; input: unknown; ok: boolean; result?: unknown; errorCode?: string; errorMessage?: string },
): Promise<void> {
  if (call.type !== "mutation" || NOT_AUDITED.has(call.path)) return;
  const target = targetOf(call.input, call.result);
  const actor = ctx.actor as (Context["actor"] & { via?: string }) | null;
  const loginEmail = call.path === "auth.login" && call.input && typeof call.input === "object" ? String((call.input as { email?: unknown }).email ?? "").slice(0, 254) : null;
  const outcome = call.ok ? "ok" : DENIED.has(call.errorCode ?? "") ? "denied" : "error";
  const summary = summarize(call.path === "auth.login" ? null : call.input);
  const detail = [summary, call.ok ? null : call.errorMessage?.slice(0, 500)].filter(Boolean).join(" — ") || undefined;
  // A platform admin's change to another tenant (its quotas, a template moved to it) belongs to
  // that tenant's trail, where its own admins can see it.
  const input = call.input && typeof call.input === "object" ? (call.input as Record<string, unknown>) : {};
  const forTenant = call.ok && actor?.role === "admin" && typeof input.tenantId === "string" ? input.tenantId.slice(0, 64) : null;
  try {
    await recordAudit(ctx.db, actor, ctx.ip, {
      ...(forTenant ? { tenantId: forTenant } : {}),
      action: call.path,
      targetType: target.type,
      targetId: target.id,
      outcome,
      ...(detail ? { detail } : {}),
      actorEmail: actor?.email ?? loginEmail ?? null,
      via: ctx.node ? "node" : (actor?.via ?? (actor ? "session" : "anonymous")),
    });
  } catch (e) {
    // The change (if any) has happened; losing its audit line must at least be loud.
    console.error(`audit: could not record ${call.path}: ${(e as Error).message}`);
  }
}
