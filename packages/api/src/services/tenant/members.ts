// A tenant's people: list, change role, revoke or restore access; platform admins see every
// tenant and set its quotas. Revoking access ends the user's sessions at once; API tokens and
// open consoles stop working too (nodes learn it from the sync reply).
import type { Db } from "@vdi/db";
import type { Actor } from "../../context.ts";
import { AppError } from "../../errors.ts";
import { bus, nodeTopic } from "../../lib/bus.ts";
import { memberLimitsOf, memberUsage, membersUsage, tenantUsage } from "./quota.ts";
import { credentialsChanged } from "../auth/caller-cache.ts";

/** Tenant admins act inside their tenant; platform admins in any (they name it). */
function scopeTenant(actor: Actor, tenantId?: string | undefined): string {
  if (tenantId && tenantId !== actor.tenantId && actor.role !== "admin") throw new AppError("NOT_FOUND", { message: "Tenant not found" });
  return tenantId ?? actor.tenantId;
}

export async function listMembers(db: Db, actor: Actor, input: { tenantId?: string | undefined }) {
  const tenantId = scopeTenant(actor, input.tenantId);
  const users = await db.user.findMany({
    where: { tenantId },
    orderBy: { email: "asc" },
    select: { id: true, email: true, name: true, role: true, disabledAt: true, twoFactorEnabled: true, createdAt: true, memberLimit: true, _count: { select: { vms: true } } },
  });
  const used = await membersUsage(db, tenantId);
  return users.map(({ _count, memberLimit, ...u }) => ({
    ...u, vms: _count.vms, limits: memberLimitsOf(memberLimit), used: used.get(u.id) ?? { vms: 0, vcpus: 0, memoryMiB: 0, diskGiB: 0 },
  }));
}

/** A user the actor may manage: of their tenant (any, for platform admins), never a platform admin unless they are one. */
export async function memberOf(db: Db, actor: Actor, userId: string) {
  const u = await db.user.findUnique({ where: { id: userId } });
  if (!u || (u.tenantId !== actor.tenantId && actor.role !== "admin")) throw new AppError("NOT_FOUND", { message: "User not found" });
  if (u.role === "admin" && actor.role !== "admin") throw new AppError("FORBIDDEN", { message: "Platform administrators are managed by platform administrators" });
  return u;
}

export async function setMemberRole(db: Db, actor: Actor, input: { userId: string; role: "user" | "tenant_admin" }) {
  const u = await memberOf(db, actor, input.userId);
  if (u.id === actor.userId) throw new AppError("INVALID_INPUT", { message: "You cannot change your own role" });
  await db.user.update({ where: { id: u.id }, data: { role: input.role } });
  credentialsChanged();
  return { userId: u.id, role: input.role };
}

export async function setMemberAccess(db: Db, actor: Actor, input: { userId: string; enabled: boolean }) {
  const u = await memberOf(db, actor, input.userId);
  if (u.id === actor.userId) throw new AppError("INVALID_INPUT", { message: "You cannot revoke your own access" });
  await db.$transaction(async (tx) => {
    await tx.user.update({ where: { id: u.id }, data: { disabledAt: input.enabled ? null : new Date() } });
    if (!input.enabled) {
      await tx.session.deleteMany({ where: { userId: u.id } });
      await tx.apiToken.updateMany({ where: { userId: u.id, revokedAt: null }, data: { revokedAt: new Date() } });
    }
  });
  credentialsChanged();
  // Nodes close the user's consoles on their next sync: wake them now.
  if (!input.enabled) for (const n of await db.node.findMany({ select: { id: true } })) bus().emit(nodeTopic(n.id));
  return { userId: u.id, enabled: input.enabled };
}

/** What the tenant uses against its quotas, and the caller against their member limits (shown in the page). */
export async function usageOf(db: Db, actor: Actor) {
  const t = await db.tenant.findUniqueOrThrow({ where: { id: actor.tenantId } });
  return {
    tenant: { id: t.id, name: t.name },
    used: await tenantUsage(db, t.id),
    limits: { vms: t.maxVms, vcpus: t.maxVcpus, memoryMiB: t.maxMemoryMiB, diskGiB: t.maxDiskGiB, snapshots: t.maxSnapshots },
    member: {
      used: await memberUsage(db, t.id, actor.userId),
      limits: memberLimitsOf(await db.memberLimit.findUnique({ where: { userId: actor.userId } })),
    },
  };
}

export async function listTenants(db: Db) {
  const tenants = await db.tenant.findMany({ orderBy: { slug: "asc" } });
  return Promise.all(tenants.map(async (t) => ({
    id: t.id, slug: t.slug, name: t.name,
    limits: { vms: t.maxVms, vcpus: t.maxVcpus, memoryMiB: t.maxMemoryMiB, diskGiB: t.maxDiskGiB, snapshots: t.maxSnapshots },
    used: await tenantUsage(db, t.id),
  })));
}

export async function createTenant(db: Db, input: { slug: string; name: string }) {
  if (await db.tenant.findUnique({ where: { slug: input.slug } })) throw new AppError("CONFLICT", { message: `A tenant "${input.slug}" already exists` });
  const t = await db.tenant.create({ data: { slug: input.slug, name: input.name } });
  return { tenantId: t.id };
}

export async function setQuotas(db: Db, input: { tenantId: string; vms?: number | undefined; vcpus?: number | undefined; memoryMiB?: number | undefined; diskGiB?: number | undefined; snapshots?: number | undefined }) {
  const t = await db.tenant.findUnique({ where: { id: input.tenantId } });
  if (!t) throw new AppError("NOT_FOUND", { message: "Tenant not found" });
  await db.tenant.update({
    where: { id: t.id },
    data: {
      ...(input.vms !== undefined ? { maxVms: input.vms } : {}),
      ...(input.vcpus !== undefined ? { maxVcpus: input.vcpus } : {}),
      ...(input.memoryMiB !== undefined ? { maxMemoryMiB: input.memoryMiB } : {}),
      ...(input.diskGiB !== undefined ? { maxDiskGiB: input.diskGiB } : {}),
      ...(input.snapshots !== undefined ? { maxSnapshots: input.snapshots } : {}),
    },
  });
  return { tenantId: t.id };
}
