// Which users may open the console of which VM here, as the portal last said (nodeAgent.consoleAccess,
// polled every few seconds). The gateway checks each console token's user against it, so a token
// naming a user the VM is not open to is refused even though the portal's key signed it.
import type { ConsoleAccess } from "@vdi/node-protocol";

export type AccessVerdict = "allowed" | "denied" | "unknown";

export class ConsoleAccessTable {
  private vms = new Map<string, { tenant: string; owner: string; shared: boolean }>();
  private tenants = new Map<string, { admins: ReadonlySet<string>; users: ReadonlySet<string> }>();
  private known = false;

  /** Replaces the whole table with the portal's answer. */
  replace(access: ConsoleAccess): void {
    this.vms = new Map(access.vms.map((v) => [v.id, { tenant: v.tenant, owner: v.owner, shared: v.shared }]));
    this.tenants = new Map(access.tenants.map((t) => [t.id, { admins: new Set(t.admins), users: new Set(t.users) }]));
    this.known = true;
  }

  /** Whether the portal lists `userId` as the VM's owner. */
  isOwner(vmId: string, userId: string): boolean {
    return this.vms.get(vmId)?.owner === userId;
  }

  /**
   * The rule of the portal's vm-access.ts: a tenant's admins open every VM of the tenant, its users
   * their own and the shared ones; nobody from another tenant. "unknown" until the portal has
   * answered once, or for a VM it did not list yet (the gateway refuses both, for now).
   */
  verdict(vmId: string, userId: string): AccessVerdict {
    if (!this.known) return "unknown";
    const vm = this.vms.get(vmId);
    if (!vm) return "unknown";
    const tenant = this.tenants.get(vm.tenant);
    if (!tenant) return "denied";
    if (tenant.admins.has(userId)) return "allowed";
    if (tenant.users.has(userId) && (vm.owner === userId || vm.shared)) return "allowed";
    return "denied";
  }
}

/** Asks the portal every `intervalMs` (and at once), and calls `changed` after each fresh answer. */
export function pollConsoleAccess(opts: {
  fetch: () => Promise<ConsoleAccess | null>;
  table: ConsoleAccessTable;
  changed: () => void;
  intervalMs: number;
  log: (msg: string) => void;
}): { refresh(): Promise<void>; stop(): void } {
  let stopped = false;
  let inFlight: Promise<void> | null = null;
  let failing = false;
  const refresh = () => {
    inFlight ??= (async () => {
      try {
        const access = await opts.fetch();
        if (stopped || !access) return;
        opts.table.replace(access);
        failing = false;
        opts.changed();
      } catch (err) {
        // The table keeps the last answer: a portal outage must not cut consoles, nor open them wider.
        if (!failing && !stopped) opts.log(`console access: ${(err as Error).message}`);
        failing = true;
      } finally {
        inFlight = null;
      }
    })();
    return inFlight;
  };
  const timer = setInterval(() => void refresh(), opts.intervalMs);
  void refresh();
  return { refresh, stop() { stopped = true; clearInterval(timer); } };
}
