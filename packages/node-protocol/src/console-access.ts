// Who may open the console of each VM on a node, as data the node's gateway evaluates (the rule of
// the portal's visibleVms): defense in depth behind the portal's own check when it signs a token.
import { z } from "zod";

const id = z.string().min(1).max(64);

export const consoleAccessSchema = z.object({
  /** Every VM placed on the node: its tenant, owner, and whether it is shared within the tenant. */
  vms: z.array(z.object({ id, tenant: id, owner: id, shared: z.boolean() })).max(100_000),
  /** For each of those tenants, its active users: admins (every VM of the tenant) and the rest. */
  tenants: z.array(z.object({ id, admins: z.array(id).max(100_000), users: z.array(id).max(100_000) })).max(100_000),
});
export type ConsoleAccess = z.infer<typeof consoleAccessSchema>;
