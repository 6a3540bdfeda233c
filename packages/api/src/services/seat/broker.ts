// Brokering (docs/seating.md): which desktop a user gets at a seat, one broker per pool policy in
// a table; a seat without a pool hands out the user's own desktop. Each broker returns the VM and
// how it was had (the login-time breakdown's path), and asks for a start (or a restore from a
// save) when the desktop is not running: start on connect.
import { randomBytes } from "node:crypto";
import type { Db } from "@vdi/db";
import type { Actor } from "../../context.ts";
import { AppError } from "../../errors.ts";
import { bus, nodeTopic } from "../../lib/bus.ts";
import { changeVmState } from "../vm/change-vm-state.ts";
import { createVm } from "../vm/create-vm.ts";
import { consolesOf } from "@vdi/node-protocol";
import { scheduleJob } from "../jobs/jobs.ts";
import type { PoolPolicy } from "./pools.ts";
import { lockTenantQuota } from "../tenant/quota.ts";

export type BrokerDeps = { db: Db; nodeDownAfterMs: number; ip: string | null };
export type DesktopPath = "running" | "warm" | "created" | "started" | "restored";
export interface Brokered { vmId: string; path: DesktopPath; poolId: string | null }
type Pool = { id: string; name: string; templateId: string; policy: string; maxSize: number; perUserLimit: number; createdById: string };
type Broker = (deps: BrokerDeps, user: Actor, pool: Pool) => Promise<Brokered>;

/** A VM name for a pool desktop: the pool's name, then a random suffix (names are unique per tenant). */
export function poolVmName(pool: { name: string }): string {
  const base = pool.name.toLowerCase().replace(/[^a-z0-9-]+/g, "-").replace(/^-+|-+$/g, "").slice(0, 40) || "pool";
  return `${base}-${randomBytes(3).toString("hex")}`;
}

/** Gets the VM running if it is not (a start; from a save that is a restore); says how. */
export async function bringUp(deps: BrokerDeps, user: Actor, vmId: string, had: DesktopPath): Promise<DesktopPath> {
  const vm = await deps.db.vm.findUnique({ where: { id: vmId }, include: { operations: { where: { status: { in: ["pending", "running"] } }, take: 1 } } });
  if (!vm || vm.desiredState === "deleted") throw new AppError("NOT_FOUND", { message: "Your desktop is being deleted: log in again in a moment" });
  if (vm.actualState === "running" || vm.actualState === "paused") {
    if (vm.actualState === "paused" && vm.operations.length === 0) await changeVmState(deps, user, { vmId, action: "resume" });
    return had;
  }
  const restoring = vm.actualState === "saved" || vm.actualState === "saving" || vm.desiredState === "saved";
  if ((vm.actualState === "saved" || vm.actualState === "stopped" || vm.actualState === "error") && vm.operations.length === 0) {
    await changeVmState(deps, user, { vmId, action: "start" });
  }
  // Anything else (being made, starting, being saved) is waited for; the seat's state poll starts it once it can.
  return had === "warm" || had === "created" ? had : restoring ? "restored" : "started";
}

/** The user's own desktop: a running one first (a desktop template before others), else one to start. */
const own = async (deps: BrokerDeps, user: Actor): Promise<Brokered> => {
  const vms = await deps.db.vm.findMany({
    where: { tenantId: user.tenantId, ownerId: user.userId, desiredState: { not: "deleted" } },
    include: { template: { select: { consoles: true } } },
    orderBy: { createdAt: "asc" },
  });
  // Running first (a desktop template before others), then saved (restored), then the rest (started).
  const rank = (v: (typeof vms)[number]) =>
    (["running", "paused"].includes(v.actualState) ? 0 : ["saved", "saving"].includes(v.actualState) ? 10 : 20) + (consolesOf(v.template.consoles).includes("rdp") ? 0 : 1);
  const vm = vms.sort((a, b) => rank(a) - rank(b))[0];
  if (!vm) throw new AppError("NOT_FOUND", { message: "You have no desktop yet: create one in the portal, or ask your administrator for a seat with a desktop pool" });
  return { vmId: vm.id, path: await bringUp(deps, user, vm.id, "running"), poolId: null };
};

/** Hands a warm desktop of the pool to the user (a conditional update: never to two users); null when none is warm. */
async function claimWarm(db: Db, pool: Pool, user: Actor): Promise<string | null> {
  const warm = await db.poolDesktop.findMany({ where: { poolId: pool.id, state: "warm", userId: null }, orderBy: { createdAt: "asc" }, take: 20 });
  if (warm.length === 0) return null;
  const vms = new Map((await db.vm.findMany({ where: { id: { in: warm.map((d) => d.vmId) } }, select: { id: true, actualState: true, desiredState: true } })).map((v) => [v.id, v]));
  // Running ones first: those are ready now.
  const order = warm.filter((d) => vms.get(d.vmId)?.desiredState !== "deleted" && vms.has(d.vmId))
    .sort((a, b) => Number(vms.get(b.vmId)!.actualState === "running") - Number(vms.get(a.vmId)!.actualState === "running"));
  for (const d of order) {
    const taken = await db.$transaction(async (tx) => {
      const claimed = await tx.poolDesktop.updateMany({ where: { id: d.id, state: "warm", userId: null }, data: { state: "assigned", userId: user.userId, assignedAt: new Date() } });
      if (claimed.count === 0) return false;
      // The user owns it while it is theirs: their VM list shows it, the node opens its console for them.
      await tx.vm.update({ where: { id: d.vmId }, data: { ownerId: user.userId } });
      return true;
    });
    if (taken) return d.vmId;
  }
  return null;
}

/** A pool desktop row whose VM is still being made has this prefix in place of the VM's id. */
export const PENDING_VM = "pending-";

/**
 * Makes a desktop of the pool for `owner` (a user's, or warm when `user` is null), within the
 * pool's size and the tenant's quota. Its place in the pool is taken first, under the tenant's
 * lock, so logins at the same moment never make more desktops than the pool's size.
 */
export async function makePoolDesktop(deps: BrokerDeps, pool: Pool & { tenantId: string }, owner: Actor, user: string | null): Promise<string> {
  const slot = await deps.db.$transaction(async (tx) => {
    await lockTenantQuota(tx, pool.tenantId);
    const size = await tx.poolDesktop.count({ where: { poolId: pool.id } });
    if (size >= pool.maxSize) return null;
    return tx.poolDesktop.create({ data: { poolId: pool.id, vmId: `${PENDING_VM}${randomBytes(9).toString("hex")}`, userId: user, state: user ? "assigned" : "warm", assignedAt: user ? new Date() : null } });
  });
  if (!slot) throw new AppError("NO_CAPACITY", { message: `All ${pool.maxSize} desktops of pool "${pool.name}" are in use: try again later, or ask your administrator` });
  try {
    const { vmId } = await createVm(deps, owner, { templateId: pool.templateId, name: poolVmName(pool) });
    await deps.db.poolDesktop.update({ where: { id: slot.id }, data: { vmId } });
    return vmId;
  } catch (e) {
    await deps.db.poolDesktop.delete({ where: { id: slot.id } }).catch(() => undefined);
    throw e;
  }
}

async function createFor(deps: BrokerDeps, pool: Pool, user: Actor): Promise<string> {
  return makePoolDesktop(deps, { ...pool, tenantId: user.tenantId }, user, user.userId);
}

/** The user's desktop in the pool already (still theirs: a session not ended, or a persistent pool). */
async function assignedTo(db: Db, pool: Pool, user: Actor): Promise<string | null> {
  const mine = await db.poolDesktop.findMany({ where: { poolId: pool.id, userId: user.userId, state: "assigned" }, orderBy: { assignedAt: "asc" } });
  for (const d of mine) {
    const vm = await db.vm.findUnique({ where: { id: d.vmId }, select: { desiredState: true } });
    if (vm && vm.desiredState !== "deleted") return d.vmId;
  }
  return null;
}

/**
 * Both policies hand out a pool desktop the same way: the user's own one still theirs (persistent:
 * always; non-persistent: while a session has not thrown it away, so a roaming user keeps it), else
 * a warm one, else one made now. They differ in what happens after use (seat-session.ts, the
 * timers) and in the per-user limit, which only a non-persistent pool can reach.
 */
const fromPool = (opts: { limitPerUser: boolean }): Broker => async (deps, user, pool) => {
  const had = await assignedTo(deps.db, pool, user);
  if (had) return { vmId: had, path: await bringUp(deps, user, had, "running"), poolId: pool.id };
  if (opts.limitPerUser) {
    const mine = await deps.db.poolDesktop.count({ where: { poolId: pool.id, userId: user.userId, state: "assigned" } });
    if (mine >= pool.perUserLimit) throw new AppError("QUOTA_EXCEEDED", { message: `You have ${mine} desktop${mine > 1 ? "s" : ""} of pool "${pool.name}" already (the most it gives one user)` });
  }
  const warm = await claimWarm(deps.db, pool, user);
  await scheduleJob(deps.db, "pool.refill", pool.id);
  if (warm) return { vmId: warm, path: await bringUp(deps, user, warm, "warm"), poolId: pool.id };
  return { vmId: await createFor(deps, pool, user), path: "created", poolId: pool.id };
};

export const BROKERS: Record<PoolPolicy, Broker> = { persistent: fromPool({ limitPerUser: false }), nonpersistent: fromPool({ limitPerUser: true }) };

/** The desktop for `user` at a seat of `pool` (null: the user's own). */
export async function broker(deps: BrokerDeps, user: Actor, pool: Pool | null): Promise<Brokered> {
  const got = pool ? await BROKERS[pool.policy as PoolPolicy](deps, user, pool) : await own(deps, user);
  const vm = await deps.db.vm.findUnique({ where: { id: got.vmId }, select: { nodeId: true } });
  if (vm) bus().emit(nodeTopic(vm.nodeId));
  return got;
}
