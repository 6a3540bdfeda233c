// Per-member limits: a tenant admin caps what one member of the tenant may use (VMs, vCPUs, memory,
// disk), inside the tenant's quota. null lifts a limit. Enforced with the tenant quota in checkVmQuota.
import type { Db } from "@vdi/db";
import type { Actor } from "../../context.ts";
import { memberOf } from "./members.ts";
import { memberLimitsOf, type MemberLimits } from "./quota.ts";

export async function setMemberLimits(db: Db, actor: Actor, input: { userId: string } & { [K in keyof MemberLimits]?: number | null | undefined }) {
  const u = await memberOf(db, actor, input.userId);
  // Only the fields given change; a limit already over what the member uses refuses new growth, not the VMs they have.
  const data = {
    ...(input.vms !== undefined ? { maxVms: input.vms } : {}),
    ...(input.vcpus !== undefined ? { maxVcpus: input.vcpus } : {}),
    ...(input.memoryMiB !== undefined ? { maxMemoryMiB: input.memoryMiB } : {}),
    ...(input.diskGiB !== undefined ? { maxDiskGiB: input.diskGiB } : {}),
  };
  const row = await db.memberLimit.upsert({ where: { userId: u.id }, create: { userId: u.id, tenantId: u.tenantId, ...data }, update: data });
  return { userId: u.id, limits: memberLimitsOf(row) };
}
