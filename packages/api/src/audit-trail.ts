// Every state-changing call (each mutation) leaves one append-only audit event: who (user, and
// whether through a session or an API token), tenant, what (the procedure), target, outcome,
// source IP, time. Queries are not recorded; node state reports (nodeAgent.sync) neither: they are
// the node telling what is, every few seconds, not a change anyone asked for.
// What an event says comes from the input as the procedure's own schema validated it, never from
// the raw input (which may be anything a client can write, 20,000 arrays deep included).
import type { Db } from "@vdi/db";
import type { Context } from "./context.ts";
import { recordAudit } from "./services/audit/record-audit.ts";

// A seat's heartbeat (every 2 s per seat) and its first-frame timing are not events; connect,
// console and logout at a seat are.
const NOT_AUDITED = new Set(["nodeAgent.sync", "seat.session", "seat.firstFrame"]);
/** Input fields safe to keep in the trail (never passwords, tokens or codes). */
const KEPT = ["name", "title", "mode", "scope", "cpus", "memoryMiB", "diskGiB", "withRam", "role", "email", "scopes", "expiresInDays", "templateId", "location", "policy", "warmSize", "maxSize", "how", "answer"];
const TARGETS = [["vmId", "vm"], ["snapshotId", "snapshot"], ["operationId", "operation"], ["templateId", "template"], ["tokenId", "apiToken"], ["joinTokenId", "joinToken"], ["userId", "user"], ["invitationId", "invitation"], ["tenantId", "tenant"], ["shadowId", "shadow"], ["seatId", "seat"], ["sessionId", "seatSession"], ["poolId", "pool"]] as const;

export function isAudited(path: string, type: string): boolean {
  return type === "mutation" && !NOT_AUDITED.has(path);
}

// The procedures' input schemas, by path, so that the trail can read validated input: the audit
// middleware runs before a procedure's own `.input()` step and cannot see its result.
type Parse = (raw: unknown) => Promise<{ ok: true; value: unknown } | { ok: false }>;
let inputParsers: ReadonlyMap<string, Parse> = new Map();

interface StandardSchema { "~standard": { validate(v: unknown): unknown } }

/** Called once with the app's router (root.ts). */
export function registerAuditedInputs(router: { _def: { procedures: object } }): void {
  const procedures = router._def.procedures as Record<string, { _def: { inputs: unknown[] } }>;
  inputParsers = new Map(Object.entries(procedures).map(([path, p]) => [path, async (raw: unknown) => {
    let merged: unknown = undefined;
    for (const schema of p._def.inputs as StandardSchema[]) {
      const r = (await schema["~standard"].validate(raw)) as { value?: unknown; issues?: unknown };
      if (r.issues) return { ok: false as const };
      merged = merged && typeof merged === "object" && r.value && typeof r.value === "object" ? { ...merged, ...r.value } : r.value;
    }
    return { ok: true as const, value: merged };
  }]));
}

/** The input as the procedure validated it; undefined when it did not validate (or has none). */
export async function validatedInput(path: string, raw: unknown): Promise<unknown> {
  const parse = inputParsers.get(path);
  if (!parse) return undefined;
  const r = await parse(raw).catch(() => ({ ok: false as const }));
  return r.ok ? r.value : undefined;
}

const text = (v: unknown) => {
  // Validated input holds strings, numbers, booleans and short lists of them (input-limits.test.ts).
  try { return JSON.stringify(v)?.slice(0, 100) ?? String(v); } catch { return "(unprintable)"; }
};

function summarize(input: unknown): string | undefined {
  if (!input || typeof input !== "object") return undefined;
  const o = input as Record<string, unknown>;
  const parts = KEPT.filter((k) => k in o && o[k] !== undefined).map((k) => `${k}=${text(o[k])}`);
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

export interface AuditedCall {
  path: string;
  /** The validated input; undefined when the input was refused. */
  input: unknown;
  ok: boolean;
  result?: unknown;
  errorCode?: string;
  errorMessage?: string;
}

/** Writes the call's event with `db`: the change's own transaction when it succeeded. Throws when it cannot. */
export async function recordCall(db: Db, ctx: Context & { node?: { id: string } | undefined }, call: AuditedCall): Promise<void> {
  const target = targetOf(call.input, call.result);
  const actor = ctx.actor as (Context["actor"] & { via?: string }) | null;
  const input = call.input && typeof call.input === "object" ? (call.input as Record<string, unknown>) : {};
  const loginEmail = call.path === "auth.login" && typeof input.email === "string" ? input.email.slice(0, 254) : null;
  const outcome = call.ok ? "ok" : DENIED.has(call.errorCode ?? "") ? "denied" : "error";
  const summary = summarize(call.path === "auth.login" ? null : call.input);
  const detail = [summary, call.ok ? null : call.errorMessage?.slice(0, 500)].filter(Boolean).join(" — ") || undefined;
  // A platform admin's change to another tenant (its quotas, a template moved to it, an
  // invitation into it) belongs to that tenant's trail, where its own admins can see it.
  const forTenant = call.ok && actor?.role === "admin" && typeof input.tenantId === "string" ? input.tenantId.slice(0, 64) : null;
  await recordAudit(db, actor, ctx.ip, {
    ...(forTenant ? { tenantId: forTenant } : {}),
    action: call.path,
    targetType: target.type,
    targetId: target.id,
    outcome,
    ...(detail ? { detail } : {}),
    actorEmail: actor?.email ?? loginEmail ?? null,
    via: ctx.node ? "node" : (actor?.via ?? (actor ? "session" : "anonymous")),
  });
}

/** For calls whose change is already made or never happened: a lost line is loud, not the caller's error. */
export async function recordCallAfter(db: Db, ctx: Context & { node?: { id: string } | undefined }, call: AuditedCall): Promise<void> {
  try {
    await recordCall(db, ctx, call);
  } catch (e) {
    console.error(`audit: could not record ${call.path}: ${(e as Error).message}`);
  }
}
