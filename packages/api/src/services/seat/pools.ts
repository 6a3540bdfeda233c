// Desktop pools (docs/seating.md): a template, a size and a policy, owned by a tenant. Tenant
// admins make and remove them; the jobs room keeps each one's warm set (pool-refill.ts), and its
// desktops count against the tenant's quota like any VM. The list carries each pool's login-time
// breakdown (p50/p95 per phase, and the last logins for the chart).
import type { Db } from "@vdi/db";
import type { Actor } from "../../context.ts";
import { AppError } from "../../errors.ts";
import { scheduleJob } from "../jobs/jobs.ts";
import { changeVmState } from "../vm/change-vm-state.ts";

export const POOL_POLICIES = ["persistent", "nonpersistent"] as const;
export type PoolPolicy = (typeof POOL_POLICIES)[number];
/** At most this many pools per tenant, and desktops per pool. */
export const MAX_POOLS_PER_TENANT = 200;
export const MAX_POOL_SIZE = 1_000;

export interface PoolInput {
  name: string;
  templateId: string;
  policy: PoolPolicy;
  warmSize: number;
  maxSize: number;
  perUserLimit: number;
  disconnectMinutes: number;
  idleLogoffMinutes: number;
}

export async function createPool(db: Db, actor: Actor, input: PoolInput) {
  if (input.warmSize > input.maxSize) throw new AppError("INVALID_INPUT", { message: `The warm set (${input.warmSize}) cannot be larger than the pool (${input.maxSize})` });
  const template = await db.template.findFirst({ where: { id: input.templateId, OR: [{ tenantId: null }, { tenantId: actor.tenantId }] } });
  if (!template) throw new AppError("NOT_FOUND", { message: "Template not found" });
  if (template.retiredAt) throw new AppError("INVALID_STATE", { message: `Template "${template.title}" is retired` });
  if ((await db.desktopPool.count({ where: { tenantId: actor.tenantId } })) >= MAX_POOLS_PER_TENANT) {
    throw new AppError("QUOTA_EXCEEDED", { message: `A tenant has at most ${MAX_POOLS_PER_TENANT} pools` });
  }
  if (await db.desktopPool.findFirst({ where: { tenantId: actor.tenantId, name: input.name }, select: { id: true } })) {
    throw new AppError("CONFLICT", { message: `A pool named "${input.name}" exists already` });
  }
  let pool;
  try {
    pool = await db.desktopPool.create({ data: { ...input, tenantId: actor.tenantId, createdById: actor.userId } });
  } catch (e) {
    if ((e as { code?: string }).code === "P2002") throw new AppError("CONFLICT", { message: `A pool named "${input.name}" exists already` });
    throw e;
  }
  await scheduleJob(db, "pool.refill", pool.id);
  return { poolId: pool.id, name: pool.name };
}

/** Changes a pool's sizes and timers (its template and policy stay: they define its desktops). */
export async function updatePool(db: Db, actor: Actor, input: { poolId: string } & Pick<PoolInput, "warmSize" | "maxSize" | "perUserLimit" | "disconnectMinutes" | "idleLogoffMinutes">) {
  const { poolId, ...data } = input;
  if (data.warmSize > data.maxSize) throw new AppError("INVALID_INPUT", { message: `The warm set (${data.warmSize}) cannot be larger than the pool (${data.maxSize})` });
  const pool = await db.desktopPool.findFirst({ where: { id: poolId, tenantId: actor.tenantId } });
  if (!pool) throw new AppError("NOT_FOUND", { message: "Pool not found" });
  await db.desktopPool.update({ where: { id: pool.id }, data });
  await scheduleJob(db, "pool.refill", pool.id);
  return { poolId: pool.id };
}

/** The p-th percentile (0–100) of `xs` (nearest rank); null when empty. */
export function percentile(xs: number[], p: number): number | null {
  if (xs.length === 0) return null;
  const sorted = [...xs].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))]!;
}

const PHASES = ["authMs", "brokerMs", "startMs", "firstFrameMs"] as const;
/** How many of a pool's latest logins the breakdown covers. */
const TIMINGS_WINDOW = 200;

async function loginBreakdown(db: Db, tenantId: string, poolId: string | null) {
  const rows = await db.loginTiming.findMany({ where: { tenantId, poolId }, orderBy: { createdAt: "desc" }, take: TIMINGS_WINDOW });
  const stats = Object.fromEntries(PHASES.map((k) => {
    const xs = rows.flatMap((r) => (r[k] === null ? [] : [r[k]!]));
    return [k, { p50: percentile(xs, 50), p95: percentile(xs, 95), n: xs.length }];
  })) as Record<(typeof PHASES)[number], { p50: number | null; p95: number | null; n: number }>;
  // The first frame is timed from the start of the login: it is the whole login.
  const totals = rows.flatMap((r) => (r.firstFrameMs === null ? [] : [r.firstFrameMs]));
  return {
    logins: rows.length,
    phases: stats,
    total: { p50: percentile(totals, 50), p95: percentile(totals, 95), n: totals.length },
    recent: rows.slice(0, 30).reverse().map((r) => ({ at: r.createdAt, path: r.path, authMs: r.authMs, brokerMs: r.brokerMs, startMs: r.startMs, firstFrameMs: r.firstFrameMs })),
  };
}

export async function listPools(db: Db, actor: Actor) {
  const pools = await db.desktopPool.findMany({ where: { tenantId: actor.tenantId }, orderBy: { name: "asc" }, include: { seats: { where: { revokedAt: null }, select: { name: true } } } });
  const counts = await db.poolDesktop.groupBy({ by: ["poolId", "state"], where: { poolId: { in: pools.map((p) => p.id) } }, _count: { _all: true } });
  const templates = new Map((await db.template.findMany({ where: { id: { in: [...new Set(pools.map((p) => p.templateId))] } }, select: { id: true, title: true } })).map((t) => [t.id, t.title]));
  // Users' desktops saved to disk (suspended on disconnect) or stopped, per pool.
  const assigned = await db.poolDesktop.findMany({ where: { poolId: { in: pools.map((p) => p.id) }, state: "assigned" }, select: { poolId: true, vmId: true } });
  const asleep = new Map((await db.vm.findMany({ where: { id: { in: assigned.map((a) => a.vmId) } }, select: { id: true, actualState: true } })).map((v) => [v.id, v.actualState]));
  const parked = (poolId: string, state: string) => assigned.filter((a) => a.poolId === poolId && asleep.get(a.vmId) === state).length;
  const out = [];
  for (const p of pools) {
    const n = (state: string) => counts.find((c) => c.poolId === p.id && c.state === state)?._count._all ?? 0;
    out.push({
      poolId: p.id, name: p.name, templateId: p.templateId, template: templates.get(p.templateId) ?? "(gone)", policy: p.policy as PoolPolicy,
      warmSize: p.warmSize, maxSize: p.maxSize, perUserLimit: p.perUserLimit, disconnectMinutes: p.disconnectMinutes, idleLogoffMinutes: p.idleLogoffMinutes,
      desktops: { warm: n("warm"), assigned: n("assigned"), resetting: n("resetting"), suspended: parked(p.id, "saved"), stopped: parked(p.id, "stopped") },
      seats: p.seats.map((s) => s.name),
      loginTimes: await loginBreakdown(db, actor.tenantId, p.id),
    });
  }
  return { pools: out, ownDesktops: await loginBreakdown(db, actor.tenantId, null) };
}

/**
 * Removes a pool and its unassigned desktops. A pool with users' desktops is refused: those hold
 * their work (persistent) or a session (non-persistent); their users log out, or the admin deletes
 * those VMs, first.
 */
export async function deletePool(deps: { db: Db; nodeDownAfterMs: number; ip: string | null }, actor: Actor, poolId: string) {
  const { db } = deps;
  const pool = await db.desktopPool.findFirst({ where: { id: poolId, tenantId: actor.tenantId }, include: { desktops: true } });
  if (!pool) throw new AppError("NOT_FOUND", { message: "Pool not found" });
  const assigned = pool.desktops.filter((d) => d.state === "assigned");
  if (assigned.length) throw new AppError("INVALID_STATE", { message: `Pool "${pool.name}" has ${assigned.length} user desktop${assigned.length > 1 ? "s" : ""}: delete ${assigned.length > 1 ? "them" : "it"} first` });
  for (const d of pool.desktops) {
    const vm = await db.vm.findUnique({ where: { id: d.vmId }, select: { desiredState: true } });
    if (vm && vm.desiredState !== "deleted") await changeVmState(deps, actor, { vmId: d.vmId, action: "delete" });
  }
  await db.desktopPool.delete({ where: { id: pool.id } });
  return { poolId: pool.id };
}
