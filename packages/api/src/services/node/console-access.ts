// Who may open the console of each VM on a node, for the node's gateway to check console tokens
// against (defense in depth: the portal checks too, when it signs a token). Also how an open console
// ends when its user loses the VM: unshared, moved out of the tenant, demoted, deleted, disabled.
import type { Db } from "@vdi/db";
import type { ConsoleAccess } from "@vdi/node-protocol";

export type { ConsoleAccess };

/** The rule of services/vm/vm-access.ts (visibleVms), as data a node can evaluate. */
export async function consoleAccessFor(db: Db, nodeId: string): Promise<ConsoleAccess> {
  const vms = await db.vm.findMany({ where: { nodeId }, select: { id: true, tenantId: true, ownerId: true, shared: true }, orderBy: { id: "asc" } });
  const tenantIds = [...new Set(vms.map((v) => v.tenantId))];
  // A filter on the relation, not a list of the tenants' ids: a node may host any number of
  // tenants, and an id list binds one parameter each (P2029 past ~999 on SQLite).
  const people = tenantIds.length === 0 ? [] : await db.user.findMany({
    where: { disabledAt: null, tenant: { vms: { some: { nodeId } } } },
    select: { id: true, tenantId: true, role: true },
    orderBy: { id: "asc" },
  });
  const tenants = new Map(tenantIds.map((id) => [id, { id, admins: [] as string[], users: [] as string[] }]));
  // A tenant whose first VM arrived here after the VMs were read is in the next table.
  for (const p of people) tenants.get(p.tenantId)?.[p.role === "user" ? "users" : "admins"].push(p.id);
  return {
    vms: vms.map((v) => ({ id: v.id, tenant: v.tenantId, owner: v.ownerId, shared: v.shared })),
    tenants: [...tenants.values()],
  };
}
