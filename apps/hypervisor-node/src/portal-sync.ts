// The node's side of the wire: registers with the join token (or again, proving who it is), then
// keeps two loops going: a long-poll that learns the desired set as soon as it changes, and a report
// loop that pushes state changes at once and a heartbeat otherwise. Both back off on failure (1 s
// doubling to 30 s, with jitter) and log a failure streak at 1, 2, 4 … tries: a portal that is down,
// or a node out of file descriptors, costs no busy loop.
import type { DesiredVm, NodeCapabilities, RegisterInput, VmReport } from "@vdi/node-protocol";
import { Backoff } from "./lib/backoff.ts";
import { createPortalClient, isUnauthorized, loadCredentials, nodeBearer, saveCredentials, storedCredentials, type NodeCredentials, type PortalClient } from "./portal-client.ts";

export interface PortalSyncOptions {
  portalUrl: string;
  dataDir: string;
  /** What registration presents besides the endpoints and capabilities. */
  identity: Pick<RegisterInput, "joinToken" | "name" | "totalCpus" | "totalMemoryMiB">;
  endpoints: { apiUrl: string; consoleUrl: string };
  capabilities(): NodeCapabilities;
  /** Every VM's state now (the reconciler's report). */
  reports(): VmReport[];
  /** The desired set the portal answered, when it changed. */
  onDesired(vms: DesiredVm[]): void;
  /** Users whose access the portal revoked lately. */
  onRevokedUsers(userIds: string[]): void;
  /** Seat sessions that ended lately: their consoles close with the reason. */
  onEndedSeatSessions?(ended: Array<{ id: string; reason: string }>): void;
  /** Before each sync (the agent closes consoles of VMs that stopped). */
  beforeSync?(): void;
  log(msg: string): void;
  longPollMs?: number;
  heartbeatMs?: number;
  fetch?: typeof fetch;
}

export class PortalSync {
  private creds: NodeCredentials | null;
  private readonly portal: PortalClient;
  private stopped = false;
  private started = false;
  private dirty = true;
  private wake: (() => void) | null = null;
  private etag: string | null = null;
  private desiredAt = 0;
  private lastSent = "";
  private lastSentAt = 0;
  private readonly abort = new AbortController();
  private loops: Promise<void>[] = [];
  private readonly longPollMs: number;
  private readonly heartbeatMs: number;

  constructor(private readonly o: PortalSyncOptions) {
    this.creds = loadCredentials(o.dataDir, o.portalUrl);
    this.longPollMs = o.longPollMs ?? 10_000;
    this.heartbeatMs = o.heartbeatMs ?? 4_000;
    // Registering again (credentials saved for another portal URL, or refused) presents the saved
    // ones: the portal lets a node take an already registered name only with that node's
    // credentials. Credentials saved for another portal are presented only to a portal of the same
    // origin (a changed path, say): a node pointed at another site must never hand it this secret.
    const sameOrigin = (a: string, b: string) => { try { return new URL(a).origin === new URL(b).origin; } catch { return false; } };
    const presentable = () => { const s = storedCredentials(o.dataDir); return s && sameOrigin(s.portalUrl, o.portalUrl) ? s : null; };
    this.portal = createPortalClient(o.portalUrl, () => nodeBearer(this.creds ?? presentable()), o.fetch);
  }

  nodeId(): string | null {
    return this.creds?.nodeId ?? null;
  }

  consolePublicKeyPem(): string | null {
    return this.creds?.consolePublicKeyPem ?? null;
  }

  registered(): boolean {
    return this.creds !== null;
  }

  /** Something changed here: the report loop says so at once. */
  changed(): void {
    this.dirty = true;
    this.wake?.();
  }

  /** Who may open which VM's console, as the portal says now (null before registration). */
  consoleAccess(signal: AbortSignal) {
    return this.creds ? this.portal.call("consoleAccess", undefined, { signal }) : Promise.resolve(null);
  }

  start(): void {
    if (this.started) return;
    this.started = true;
    this.loops = [this.watchLoop(), this.reportLoop()];
  }

  async stop(): Promise<void> {
    this.stopped = true;
    this.abort.abort();
    this.wake?.();
    await Promise.allSettled(this.loops);
  }

  private async register(): Promise<void> {
    const r = await this.portal.call("register", { ...this.o.identity, ...this.o.endpoints, capabilities: this.o.capabilities() });
    this.creds = { nodeId: r.nodeId, secret: r.secret, consolePublicKeyPem: r.consolePublicKeyPem, portalUrl: this.o.portalUrl };
    saveCredentials(this.o.dataDir, this.creds);
    this.o.log(`registered as ${r.nodeId}`);
    this.wake?.();  // the report loop tells the portal what runs here at once
  }

  /**
   * One sync. Only the report loop carries VM reports, one request at a time: a long-poll that
   * also carried them could be applied after a newer report sent beside it, and a VM would go
   * back to "stopping" after it had stopped.
   */
  async syncOnce(waitMs: number, withReports: boolean): Promise<void> {
    if (!this.creds) await this.register();
    const vms: VmReport[] = withReports ? this.o.reports() : [];
    this.o.beforeSync?.();
    const sent = JSON.stringify(vms);
    if (withReports) this.dirty = false;
    try {
      // A controller per request: fetch keeps a listener on the signal it is given.
      const request = new AbortController();
      const cancel = () => request.abort();
      this.abort.signal.addEventListener("abort", cancel, { once: true });
      const res = await this.portal
        .call("sync", { vms, capabilities: this.o.capabilities(), endpoints: this.o.endpoints, etag: this.etag, waitMs }, { signal: request.signal })
        .finally(() => this.abort.signal.removeEventListener("abort", cancel));
      if (withReports) {
        this.lastSent = sent;
        this.lastSentAt = Date.now();
      }
      // Users disabled or removed on the portal: their open consoles close, new ones are refused.
      this.o.onRevokedUsers(res.revokedUsers);
      this.o.onEndedSeatSessions?.(res.endedSeatSessions);
      if (this.creds && res.consolePublicKeyPem !== this.creds.consolePublicKeyPem) {
        this.creds = { ...this.creds, consolePublicKeyPem: res.consolePublicKeyPem };
        saveCredentials(this.o.dataDir, this.creds);
      }
      // Two syncs in flight (the long-poll and a report) can answer out of order: the desired set
      // read later wins, so an older one cannot drop a VM that is being created.
      if (res.etag !== this.etag && res.desiredAt >= this.desiredAt) {
        this.etag = res.etag;
        this.desiredAt = res.desiredAt;
        this.o.onDesired(res.vms);
      }
    } catch (err) {
      if (withReports) this.dirty = true;
      if (isUnauthorized(err)) {
        this.o.log("portal refused our credentials; registering again");
        this.creds = null;
      }
      throw err;
    }
  }

  /** Learns the desired state as soon as it changes. */
  private async watchLoop(): Promise<void> {
    const backoff = new Backoff(1_000, 30_000);
    while (!this.stopped) {
      try {
        await this.syncOnce(this.longPollMs, false);
        backoff.succeeded((n) => this.o.log(`sync works again after ${n} failures`));
      } catch (err) {
        if (this.stopped) break;
        const wait = backoff.failed((n) => this.o.log(`sync failed (${n}× in a row): ${(err as Error).message}`));
        await this.sleep(wait);
      }
    }
  }

  /** Pushes state changes at once, and a heartbeat otherwise. */
  private async reportLoop(): Promise<void> {
    const backoff = new Backoff(250, 30_000);
    while (!this.stopped) {
      // A change that happened while the previous report was in flight must not wait for the heartbeat.
      if (!this.dirty || !this.creds) {
        await new Promise<void>((r) => {
          this.wake = r;
          setTimeout(r, this.heartbeatMs);
        });
        this.wake = null;
      }
      if (this.stopped || !this.creds) continue;
      const changed = this.dirty && JSON.stringify(this.o.reports()) !== this.lastSent;
      if (!changed) this.dirty = false;  // nothing new to say (and no busy loop on a stale flag)
      if (!changed && Date.now() - this.lastSentAt < this.heartbeatMs) continue;
      try {
        await this.syncOnce(0, true);
        backoff.succeeded((n) => this.o.log(`reports go through again after ${n} failures`));
      } catch (err) {
        if (this.stopped) break;
        const wait = backoff.failed((n) => this.o.log(`report failed (${n}× in a row): ${(err as Error).message}`));
        await this.sleep(wait);
      }
    }
  }

  private sleep(ms: number): Promise<void> {
    return new Promise<void>((r) => {
      const t = setTimeout(r, ms);
      this.abort.signal.addEventListener("abort", () => { clearTimeout(t); r(); }, { once: true });
    });
  }
}
