// Quotas are checked inside the transaction that uses them, after taking the tenant's row lock,
// so two concurrent creates (or clones, resizes, snapshots) cannot both pass the last unit.
import type { Db } from "@vdi/db";

type Tx = Parameters<Parameters<Db["$transaction"]>[0]>[0];

/** Serializes quota-checked writes of one tenant: PostgreSQL row lock, SQLite write lock. */
export async function lockTenantQuota(tx: Tx, tenantId: string) {
  // A no-op write takes the lock for the rest of the transaction and returns the limits.
  return tx.tenant.update({ where: { id: tenantId }, data: { maxVms: { increment: 0 } } });
}

export async function tenantUsage(db: Db | Tx, tenantId: string) {
  const [vms, snapshots] = await Promise.all([
    db.vm.aggregate({ where: { tenantId }, _count: true, _sum: { cpus: true, memoryMiB: true, diskGiB: true } }),
    db.snapshot.count({ where: { tenantId } }),
  ]);
  return { vms: vms._count, vcpus: vms._sum.cpus ?? 0, memoryMiB: vms._sum.memoryMiB ?? 0, diskGiB: vms._sum.diskGiB ?? 0, snapshots };
}
