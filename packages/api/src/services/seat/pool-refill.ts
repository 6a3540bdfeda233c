// The pool.refill job (docs/seating.md): throws away a pool's used non-persistent desktops and
// keeps its warm set at warmSize, within maxSize and the tenant's quota. It runs in the jobs room,
// so one portal at a time refills a pool, and a portal restart picks it up again.
import type { Db } from "@vdi/db";
import type { Actor } from "../../context.ts";
import { actorOfUser } from "../auth/actor-of-user.ts";
import { changeVmState } from "../vm/change-vm-state.ts";
import { makePoolDesktop, PENDING_VM } from "./broker.ts";
import type { JobDeps } from "../jobs/job-kinds.ts";

/** At most this many desktops are made per pass (the rest in the next, seconds later). */
const MAX_CREATES_PER_PASS = 4;
/** How often a pool is looked at when nothing asks (a desktop deleted by hand, a quota raised). */
export const REFILL_CHECK_MS = 60_000;
/** A place taken for a desktop whose making has not finished in this long was left by a crash: freed. */
const PENDING_MAX_MS = 5 * 60_000;

/** Who the pool's unassigned desktops belong to: its creator, or (gone or disabled) another admin of the tenant. */
export async function poolOwner(db: Db, pool: { tenantId: string; createdById: string }): Promise<Actor | null> {
  const creator = await db.user.findFirst({ where: { id: pool.createdById, tenantId: pool.tenantId, disabledAt: null } });
  const u = creator ?? (await db.user.findFirst({ where: { tenantId: pool.tenantId, role: "tenant_admin", disabledAt: null }, orderBy: { createdAt: "asc" } }));
  return u ? actorOfUser(u, "session", null) : null;
}

export async function refillPool(deps: JobDeps, poolId: string): Promise<number | null> {
  const { db } = deps;
  const pool = await db.desktopPool.findUnique({ where: { id: poolId }, include: { desktops: true } });
  if (!pool) return null;
  const owner = await poolOwner(db, pool);
  if (!owner) throw new Error(`pool "${pool.name}" has no tenant admin to own its desktops`);
  const cdeps = { db, nodeDownAfterMs: deps.nodeDownAfterMs, ip: null };
  const vms = new Map((await db.vm.findMany({ where: { id: { in: pool.desktops.map((d) => d.vmId) } }, select: { id: true, desiredState: true } })).map((v) => [v.id, v]));
  let busy = false;
  // Used non-persistent desktops (and any whose VM went away) are thrown away.
  for (const d of pool.desktops) {
    // A place taken for a desktop being made (by a login, or another pass) is left to its maker, for a while.
    if (d.vmId.startsWith(PENDING_VM) && Date.now() - d.createdAt.getTime() < PENDING_MAX_MS) { busy = true; continue; }
    const vm = vms.get(d.vmId);
    if (!vm) { await db.poolDesktop.delete({ where: { id: d.id } }).catch(() => undefined); continue; }
    if (d.state !== "resetting") continue;
    busy = true;
    if (vm.desiredState !== "deleted") await changeVmState(cdeps, owner, { vmId: vm.id, action: "delete" });
  }
  const live = pool.desktops.filter((d) => vms.has(d.vmId) || d.vmId.startsWith(PENDING_VM));
  const warm = live.filter((d) => d.state === "warm" && vms.get(d.vmId)?.desiredState !== "deleted").length;
  const want = Math.min(pool.warmSize - warm, pool.maxSize - live.length, MAX_CREATES_PER_PASS);
  for (let i = 0; i < want; i++) {
    try {
      await makePoolDesktop(cdeps, pool, owner, null);
    } catch (e) {
      if ((e as { code?: string }).code === "NO_CAPACITY") break;  // logins took the places meanwhile
      throw e;
    }
  }
  const short = pool.warmSize - warm - Math.max(0, want) > 0 && live.length + Math.max(0, want) < pool.maxSize;
  return busy || short ? 5_000 : REFILL_CHECK_MS;
}
