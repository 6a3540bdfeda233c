// The node agent: joins the portal, keeps VMs in the desired state, serves the console gateway.
import { createServer, type Server } from "node:http";
import { mkdirSync, readdirSync, existsSync } from "node:fs";
import { join } from "node:path";
import type { AddressInfo } from "node:net";
import type { NodeCapabilities, VmReport } from "@vdi/node-protocol";
import type { NodeEnv } from "./env.ts";
import { probeKvm, vmmPaths } from "./native.ts";
import { probeQemu, QemuEngine } from "./engines/qemu/qemu-engine.ts";
import { KvmEngine } from "./engines/kvm/kvm-engine.ts";
import { Reconciler } from "./reconciler.ts";
import { createConsoleGateway } from "./gateway/console-gateway.ts";
import { ConsoleAccessTable, pollConsoleAccess } from "./gateway/console-access.ts";
import { createThumbnailEndpoint } from "./thumbnail/thumbnail-endpoint.ts";
import { connectionLimits, limitConnections, openFileLimit } from "./lib/connection-limits.ts";
import { Backoff } from "./lib/backoff.ts";
import { ensureGuestEgress, type GuestEgress } from "./network/guest-egress.ts";
import { createPortalClient, isUnauthorized, loadCredentials, nodeBearer, saveCredentials, storedCredentials, type NodeCredentials } from "./portal-client.ts";

const LONG_POLL_MS = 10_000;
const HEARTBEAT_MS = 4_000;
const RESYNC_MS = 3_000;

export async function startAgent(env: NodeEnv, log: (msg: string) => void = (m) => console.log(`[node ${env.VDI_NODE_NAME}] ${m}`)) {
  mkdirSync(env.dataDir, { recursive: true });
  const kvm = probeKvm(env.VDI_KVM_DEVICE);
  const qemu = await probeQemu({ qemuBinary: env.VDI_QEMU_BINARY, qemuImgBinary: env.VDI_QEMU_IMG_BINARY, accel: env.VDI_QEMU_ACCEL, kvmUsable: kvm.usable, kvmSoftware: kvm.softwareNested, kvmReason: kvm.reason });
  log(`qemu: ${qemu.available ? `${qemu.version}, ${qemu.reason}` : qemu.reason}`);
  // The egress namespace is made when the first guest that wants outbound access starts (nothing on
  // the host changes for a node that never runs one), once; its outcome is logged.
  let egressSetup: Promise<GuestEgress> | null = null;
  const egress = () => (egressSetup ??= ensureGuestEgress(env.dataDir, env.egressDeny, log).then((e) => { log(`guest egress: ${e.reason}`); return e; }));
  const qemuEngine = new QemuEngine({ qemuBinary: env.VDI_QEMU_BINARY, qemuImgBinary: env.VDI_QEMU_IMG_BINARY, imageDir: env.imageDir, accel: qemu.accel, egress });
  // Our own VMM runs its guests mostly in user mode, so it works even on software-nested KVM.
  const vmmBuilt = existsSync(vmmPaths().vmm);
  const microvm = {
    available: kvm.usable && vmmBuilt,
    reason: !kvm.usable ? kvm.reason : !vmmBuilt ? `the microVM engine is not built (${vmmPaths().vmm}; run make -C native)` : `vdi-vmm on ${kvm.reason}`,
  };
  log(`microVM: ${microvm.reason}`);
  const engines = { qemu: qemuEngine, ...(microvm.available ? { kvm: new KvmEngine({ imageDir: env.imageDir }) } : {}) };

  const capabilities = (): NodeCapabilities => ({
    engines: {
      qemu: { available: qemu.available, version: qemu.version, accel: qemu.accel, reason: qemu.reason },
      kvm: { available: microvm.available, reason: microvm.reason },
    },
    images: existsSync(env.imageDir) ? readdirSync(env.imageDir).filter((d) => existsSync(join(env.imageDir, d, "template.json"))) : [],
  });

  let creds: NodeCredentials | null = loadCredentials(env.dataDir, env.VDI_PORTAL_URL);
  let stopped = false;
  let wake: (() => void) | null = null;
  let dirty = true;
  const reconciler = new Reconciler(engines, env.dataDir, () => { dirty = true; wake?.(); }, log, { fault: env.VDI_AGENT_FAULT });
  await reconciler.loadFromDisk();

  const consoleAccess = new ConsoleAccessTable();
  const gateway = createConsoleGateway({
    nodeId: () => creds?.nodeId ?? null,
    publicKeyPem: () => creds?.consolePublicKeyPem ?? null,
    displayOf: (vmId) => reconciler.displayOf(vmId),
    mayOpen: (vmId, userId) => consoleAccess.verdict(vmId, userId),
    isOwner: (vmId, userId) => consoleAccess.isOwner(vmId, userId),
    refreshAccess: () => accessPoll.refresh(),
    allowedOrigins: env.allowedOrigins,
    limits: { idleMs: env.VDI_CONSOLE_IDLE_MINUTES * 60_000 },
    log,
  });
  /** A VM that left running/paused here (stopped, saved, deleted) loses its consoles now, not when QEMU's socket goes. */
  const closeStoppedConsoles = () => {
    for (const vmId of gateway.consoleVms()) if (!reconciler.displayOf(vmId)) gateway.closeVm(vmId, "vm stopped");
  };
  const thumbnails = createThumbnailEndpoint({
    nodeId: () => creds?.nodeId ?? null,
    publicKeyPem: () => creds?.consolePublicKeyPem ?? null,
    displayOf: (vmId) => reconciler.displayOf(vmId),
    log,
  });
  const limits = connectionLimits(openFileLimit(), { maxConnections: env.VDI_NODE_MAX_CONNECTIONS, maxPerAddress: env.VDI_NODE_MAX_CONNECTIONS_PER_ADDRESS });
  // Timeouts are checked every second (Node's default is 30 s: a flood of half-sent upgrades would pile up).
  const server: Server = createServer({ connectionsCheckingInterval: 1_000 }, (req, res) => {
    if (req.url === "/healthz") {
      res.writeHead(200, { "content-type": "application/json" });
      res.end(JSON.stringify({ ok: true, registered: !!creds, consoles: gateway.activeConnections(), connections: connections.stats() }));
      return;
    }
    if (new URL(req.url ?? "/", "http://x").pathname === "/thumbnail") {
      void thumbnails.handle(req, res);
      return;
    }
    res.writeHead(404).end();
  });
  const connections = limitConnections(server, limits, log);
  log(`connection limits: ${limits.maxConnections} in all, ${limits.maxPerAddress} per address, ${limits.reservedFds} file descriptors kept for the agent`);
  server.on("upgrade", (req, socket, head) => {
    if (new URL(req.url ?? "/", "http://x").pathname === "/console") gateway.handleUpgrade(req, socket, head);
    else socket.destroy();
  });
  await new Promise<void>((resolve) => server.listen(env.VDI_NODE_PORT, env.VDI_NODE_HOST, resolve));
  const port = (server.address() as AddressInfo).port;
  const apiUrl = `http://${env.VDI_NODE_HOST}:${port}`;
  const consoleUrl = env.VDI_NODE_CONSOLE_URL ?? `ws://${env.VDI_NODE_HOST}:${port}`;
  log(`listening on ${apiUrl} (console ${consoleUrl}/console)`);

  // Registering again (credentials saved for another portal URL, or refused) presents the saved
  // ones: the portal lets a node take an already registered name only with that node's credentials.
  // Credentials saved for another portal are presented only to a portal of the same origin (a
  // changed path, say): a node pointed at another site must never hand it this portal's secret.
  const sameOrigin = (a: string, b: string) => { try { return new URL(a).origin === new URL(b).origin; } catch { return false; } };
  const presentable = () => { const s = storedCredentials(env.dataDir); return s && sameOrigin(s.portalUrl, env.VDI_PORTAL_URL) ? s : null; };
  const portal = createPortalClient(env.VDI_PORTAL_URL, () => nodeBearer(creds ?? presentable()));

  async function register(): Promise<void> {
    const r = await portal.call("register", {
      joinToken: env.VDI_NODE_JOIN_TOKEN, name: env.VDI_NODE_NAME, apiUrl, consoleUrl,
      totalCpus: env.VDI_NODE_CPUS, totalMemoryMiB: env.VDI_NODE_MEMORY_MIB, capabilities: capabilities(),
    });
    creds = { nodeId: r.nodeId, secret: r.secret, consolePublicKeyPem: r.consolePublicKeyPem, portalUrl: env.VDI_PORTAL_URL };
    saveCredentials(env.dataDir, creds);
    log(`registered as ${r.nodeId}`);
    wake?.();  // the report loop tells the portal what runs here at once
  }

  let etag: string | null = null;
  let desiredAt = 0;
  let lastSent = "";
  let lastSentAt = 0;
  const abort = new AbortController();

  /**
   * One sync. Only the report loop carries VM reports, one request at a time: a long-poll that
   * also carried them could be applied after a newer report sent beside it, and a VM would go
   * back to "stopping" after it had stopped.
   */
  async function syncOnce(waitMs: number, withReports: boolean): Promise<void> {
    if (!creds) await register();
    const vms: VmReport[] = withReports ? reconciler.report() : [];
    closeStoppedConsoles();
    const sent = JSON.stringify(vms);
    if (withReports) dirty = false;
    try {
      // A controller per request: fetch keeps a listener on the signal it is given.
      const request = new AbortController();
      const cancel = () => request.abort();
      abort.signal.addEventListener("abort", cancel, { once: true });
      const res = await portal
        .call("sync", { vms, capabilities: capabilities(), endpoints: { apiUrl, consoleUrl }, etag, waitMs }, { signal: request.signal })
        .finally(() => abort.signal.removeEventListener("abort", cancel));
      if (withReports) {
        lastSent = sent;
        lastSentAt = Date.now();
      }
      // Users disabled or removed on the portal: their open consoles close, new ones are refused.
      if (res.revokedUsers) gateway.revokeUsers(res.revokedUsers);
      if (creds && res.consolePublicKeyPem !== creds.consolePublicKeyPem) {
        creds = { ...creds, consolePublicKeyPem: res.consolePublicKeyPem };
        saveCredentials(env.dataDir, creds);
      }
      // Two syncs in flight (the long-poll and a report) can answer out of order: the desired set
      // read later wins, so an older one cannot drop a VM that is being created.
      if (res.etag !== etag && res.desiredAt >= desiredAt) {
        etag = res.etag;
        desiredAt = res.desiredAt;
        reconciler.setDesired(res.vms);
      }
    } catch (err) {
      if (withReports) dirty = true;
      if (isUnauthorized(err)) {
        log("portal refused our credentials; registering again");
        creds = null;
      }
      throw err;
    }
  }

  // Long-poll loop: learns the desired state as soon as it changes.
  // Both loops back off on failure (1 s doubling to 30 s, with jitter) and log a failure streak at
  // 1, 2, 4 … tries: a portal that is down, or a node out of file descriptors, costs no busy loop.
  const watchBackoff = new Backoff(1_000, 30_000);
  const watchLoop = (async () => {
    while (!stopped) {
      try {
        await syncOnce(LONG_POLL_MS, false);
        watchBackoff.succeeded((n) => log(`sync works again after ${n} failures`));
      } catch (err) {
        if (stopped) break;
        const wait = watchBackoff.failed((n) => log(`sync failed (${n}× in a row): ${(err as Error).message}`));
        await new Promise((r) => setTimeout(r, wait));
      }
    }
  })();
  const reportBackoff = new Backoff(250, 30_000);
  // Report loop: pushes state changes at once, and a heartbeat otherwise.
  const reportLoop = (async () => {
    while (!stopped) {
      // A change that happened while the previous report was in flight must not wait for the heartbeat.
      if (!dirty || !creds) {
        await new Promise<void>((r) => {
          wake = r;
          setTimeout(r, HEARTBEAT_MS);
        });
        wake = null;
      }
      if (stopped || !creds) continue;
      const changed = dirty && JSON.stringify(reconciler.report()) !== lastSent;
      if (!changed) dirty = false;  // nothing new to say (and no busy loop on a stale flag)
      if (!changed && Date.now() - lastSentAt < HEARTBEAT_MS) continue;
      try {
        await syncOnce(0, true);
        reportBackoff.succeeded((n) => log(`reports go through again after ${n} failures`));
      } catch (err) {
        if (stopped) break;
        const wait = reportBackoff.failed((n) => log(`report failed (${n}× in a row): ${(err as Error).message}`));
        await new Promise<void>((r) => { const t = setTimeout(r, wait); abort.signal.addEventListener("abort", () => { clearTimeout(t); r(); }, { once: true }); });
      }
    }
  })();
  // Who may open which VM's console, as the portal says now: tokens for anyone else are refused.
  const accessPoll = pollConsoleAccess({
    // A portal that hangs must not freeze the table (undici would wait 300 s).
    fetch: async () => (creds ? portal.call("consoleAccess", undefined, { signal: AbortSignal.timeout(10_000) }) : null),
    table: consoleAccess,
    changed: () => gateway.recheckAccess(),
    intervalMs: RESYNC_MS,
    log,
  });
  const resync = setInterval(() => {
    reconciler.resync();
    closeStoppedConsoles();
  }, RESYNC_MS);

  return {
    port,
    consoleUrl,
    nodeId: () => creds?.nodeId ?? null,
    reconciler,
    async stop() {
      stopped = true;
      clearInterval(resync);
      accessPoll.stop();
      abort.abort();
      wake?.();
      await Promise.allSettled([watchLoop, reportLoop]);
      gateway.close();
      await new Promise<void>((r) => server.close(() => r()));
      server.closeAllConnections();
      await reconciler.shutdown();
    },
  };
}
