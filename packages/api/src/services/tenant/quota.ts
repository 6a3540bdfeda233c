// Quotas are checked inside the transaction that uses them, after taking the tenant's row lock,
// so two concurrent creates (or clones, resizes, snapshots) cannot both pass the last unit. The
// same lock covers the per-member limits a tenant admin sets: a member's VMs are the tenant's.
import type { Db } from "@vdi/db";
import { AppError } from "../../errors.ts";

type Tx = Parameters<Parameters<Db["$transaction"]>[0]>[0];

/** Serializes quota-checked writes of one tenant: PostgreSQL row lock, SQLite write lock. */
export async function lockTenantQuota(tx: Tx, tenantId: string) {
  // A no-op write takes the lock for the rest of the transaction and returns the limits.
  return tx.tenant.update({ where: { id: tenantId }, data: { maxVms: { increment: 0 } } });
}

export interface VmUsage { vms: number; vcpus: number; memoryMiB: number; diskGiB: number }

/** What the VMs matching `where` add up to. */
async function vmUsage(db: Db | Tx, where: { tenantId: string; ownerId?: string; id?: { not: string } }): Promise<VmUsage> {
  const a = await db.vm.aggregate({ where, _count: true, _sum: { cpus: true, memoryMiB: true, diskGiB: true } });
  return { vms: a._count, vcpus: a._sum.cpus ?? 0, memoryMiB: a._sum.memoryMiB ?? 0, diskGiB: a._sum.diskGiB ?? 0 };
}

export async function tenantUsage(db: Db | Tx, tenantId: string) {
  const [vms, snapshots] = await Promise.all([vmUsage(db, { tenantId }), db.snapshot.count({ where: { tenantId } })]);
  return { ...vms, snapshots };
}

/** One member's VMs (the ones they own). */
export function memberUsage(db: Db | Tx, tenantId: string, userId: string) {
  return vmUsage(db, { tenantId, ownerId: userId });
}

/** Every member's VMs at once (one grouped query for the members list), by owner; members without VMs are absent. */
export async function membersUsage(db: Db | Tx, tenantId: string): Promise<Map<string, VmUsage>> {
  const rows = await db.vm.groupBy({ by: ["ownerId"], where: { tenantId }, _count: { _all: true }, _sum: { cpus: true, memoryMiB: true, diskGiB: true } });
  return new Map(rows.map((r) => [r.ownerId, { vms: r._count._all, vcpus: r._sum.cpus ?? 0, memoryMiB: r._sum.memoryMiB ?? 0, diskGiB: r._sum.diskGiB ?? 0 }]));
}

export interface MemberLimits { vms: number | null; vcpus: number | null; memoryMiB: number | null; diskGiB: number | null }

export function memberLimitsOf(row: { maxVms: number | null; maxVcpus: number | null; maxMemoryMiB: number | null; maxDiskGiB: number | null } | null): MemberLimits {
  return { vms: row?.maxVms ?? null, vcpus: row?.maxVcpus ?? null, memoryMiB: row?.maxMemoryMiB ?? null, diskGiB: row?.maxDiskGiB ?? null };
}

const KEYS = ["vms", "vcpus", "memoryMiB", "diskGiB"] as const;
type Key = (typeof KEYS)[number];

function tenantMessage(key: Key, max: number, used: number): string {
  switch (key) {
    case "vms": return `Quota reached: at most ${max} VMs`;
    case "vcpus": return `Quota reached: ${max} vCPUs in all (${used} in use)`;
    case "memoryMiB": return `Quota reached: ${max} MiB of memory in all (${used} in use)`;
    case "diskGiB": return `Quota reached: ${max} GiB of disk in all (${used} GiB in use)`;
  }
}

const UNIT: Record<Key, string> = { vms: " VMs", vcpus: " vCPUs", memoryMiB: " MiB of memory", diskGiB: " GiB of disk" };

type LockedTenant = Awaited<ReturnType<typeof lockTenantQuota>>;

/**
 * Under the tenant's lock (the caller took it: `tenant` is what lockTenantQuota returned), checks
 * that a VM of `ownerId` with `want` resources fits both the tenant's quota and the owner's member
 * limit. `current` is the VM's present size when it is resized (it is then left out of the sums);
 * only what grows is checked, so shrinking a VM of a tenant over its quota (lowered later) works.
 */
export async function checkVmQuota(
  tx: Tx,
  tenant: LockedTenant,
  q: {
    ownerId: string;
    /** Who asks: the message says "your limit" when it is the owner. */
    actorId: string;
    want: { cpus: number; memoryMiB: number; diskGiB: number };
    current?: { vmId: string; cpus: number; memoryMiB: number; diskGiB: number };
  },
) {
  const want: VmUsage = { vms: 1, vcpus: q.want.cpus, memoryMiB: q.want.memoryMiB, diskGiB: q.want.diskGiB };
  const was: VmUsage = q.current
    ? { vms: 1, vcpus: q.current.cpus, memoryMiB: q.current.memoryMiB, diskGiB: q.current.diskGiB }
    : { vms: 0, vcpus: 0, memoryMiB: 0, diskGiB: 0 };
  const grows = KEYS.filter((k) => want[k] > was[k]);
  if (grows.length === 0) return;
  const others = q.current ? { id: { not: q.current.vmId } } : {};
  const tenantUsed = await vmUsage(tx, { tenantId: tenant.id, ...others });
  const tenantMax: VmUsage = { vms: tenant.maxVms, vcpus: tenant.maxVcpus, memoryMiB: tenant.maxMemoryMiB, diskGiB: tenant.maxDiskGiB };
  for (const k of grows) {
    if (tenantUsed[k] + want[k] > tenantMax[k]) throw new AppError("QUOTA_EXCEEDED", { message: tenantMessage(k, tenantMax[k], tenantUsed[k]) });
  }
  const limits = memberLimitsOf(await tx.memberLimit.findUnique({ where: { userId: q.ownerId } }));
  if (grows.every((k) => limits[k] === null)) return;
  const ownerUsed = await vmUsage(tx, { tenantId: tenant.id, ownerId: q.ownerId, ...others });
  for (const k of grows) {
    const max = limits[k];
    if (max === null || ownerUsed[k] + want[k] <= max) continue;
    const owner = q.ownerId === q.actorId ? "Your" : `${(await tx.user.findUnique({ where: { id: q.ownerId }, select: { email: true } }))?.email ?? "The owner"}'s`;
    throw new AppError("QUOTA_EXCEEDED", { message: `${owner} member limit reached: at most ${max}${UNIT[k]} (${ownerUsed[k]} in use)` });
  }
}
