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

/** Whether the actor may see this VM (the same rule as visibleVms, for rows already loaded). */
export function mayView(actor: Pick<Actor, "userId" | "tenantId" | "role">, vm: { ownerId: string; tenantId: string; shared: boolean }): boolean {
  return vm.tenantId === actor.tenantId && (actor.role !== "user" || vm.ownerId === actor.userId || vm.shared);
}

/** Names VMs in a message: the ones the actor may see by name, the others only counted. */
export function nameVms<T extends { name: string; ownerId: string; tenantId: string; shared: boolean }>(actor: Pick<Actor, "userId" | "tenantId" | "role">, vms: T[], label: (vm: T) => string): string {
  const seen = vms.filter((v) => mayView(actor, v)).map(label);
  const hidden = vms.length - seen.length;
  return [...seen, ...(hidden ? [`${hidden} VM${hidden > 1 ? "s" : ""} of another member`] : [])].join(", ");
}
