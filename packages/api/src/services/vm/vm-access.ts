// Which VMs an actor may see and use: tenant admins (and platform admins, inside their tenant)
// every VM of the tenant; tenant users their own and the ones shared within the tenant.
import type { Actor } from "../../context.ts";

export function visibleVms(actor: Pick<Actor, "userId" | "tenantId" | "role">) {
  return {
    tenantId: actor.tenantId,
    ...(actor.role === "user" ? { OR: [{ ownerId: actor.userId }, { shared: true }] } : {}),
  };
}

/** Deleting, sharing and making templates: the owner or a tenant admin. */
export function mayManage(actor: Actor, vm: { ownerId: string; tenantId: string }): boolean {
  return vm.tenantId === actor.tenantId && (actor.role !== "user" || vm.ownerId === actor.userId);
}
