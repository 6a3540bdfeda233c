// The node agent: joins the portal, keeps VMs in the desired state, serves the console gateway.
import { createServer, type Server } from "node:http";
import { mkdirSync, readdirSync, existsSync } from "node:fs";
import { join } from "node:path";
import type { AddressInfo } from "node:net";
import { CONSOLE_PROTOCOLS, type ConsoleProtocol, type NodeCapabilities } from "@vdi/node-protocol";
import type { NodeEnv } from "./env.ts";
import { probeKvm, rdpBridgePath, vmmPaths } from "./native.ts";
import { probeQemu, QemuEngine } from "./engines/qemu/qemu-engine.ts";
import { VmmEngine } from "./engines/vdi-vmm/vmm-engine.ts";
import { Reconciler } from "./reconciler.ts";
import { createConsoleGateway } from "./gateway/console-gateway.ts";
import type { StreamProtocols } from "./gateway/stream-protocol.ts";
import { rfbStream } from "./rfb/rfb-stream.ts";
import { rdpStream } from "./rdp/rdp-stream.ts";
import { createAdmission } from "./gateway/admission.ts";
import { ConsoleAccessTable, pollConsoleAccess } from "./gateway/console-access.ts";
import { createThumbnailEndpoint } from "./thumbnail/thumbnail-endpoint.ts";
import { connectionLimits, limitConnections, openFileLimit } from "./lib/connection-limits.ts";
import { ensureGuestEgress, type GuestEgress } from "./network/guest-egress.ts";
import { PortalSync } from "./portal-sync.ts";
import { faultPoints } from "./lib/fault-points.ts";
import { EngineUsers } from "./lib/engine-users.ts";
import { EngineSupervisor } from "./lib/engine-supervisor.ts";
import { detectCgroups, noCgroups } from "./lib/cgroups.ts";

const LONG_POLL_MS = 10_000;
const HEARTBEAT_MS = 4_000;
const RESYNC_MS = 3_000;

/** The WebSocket paths of the node, each the console protocol it serves (node-protocol's table). */
const UPGRADE_PATHS: Record<string, keyof StreamProtocols> = Object.fromEntries(
  Object.entries(CONSOLE_PROTOCOLS).map(([proto, row]) => [row.path, proto as ConsoleProtocol]),
);

export async function startAgent(env: NodeEnv, log: (msg: string) => void = (m) => console.log(`[node ${env.VDI_NODE_NAME}] ${m}`)) {
  mkdirSync(env.dataDir, { recursive: true });
  const kvm = probeKvm(env.VDI_KVM_DEVICE);
  const qemu = await probeQemu({ qemuBinary: env.VDI_QEMU_BINARY, qemuImgBinary: env.VDI_QEMU_IMG_BINARY, accel: env.VDI_QEMU_ACCEL, kvmUsable: kvm.usable, kvmSoftware: kvm.softwareNested, kvmReason: kvm.reason });
  log(`qemu: ${qemu.available ? `${qemu.version}, ${qemu.reason}` : qemu.reason}`);
  // The egress namespace is made when the first guest that wants outbound access starts (nothing on
  // the host changes for a node that never runs one), once; its outcome is logged.
  let egressSetup: Promise<GuestEgress> | null = null;
  const egress = () => (egressSetup ??= ensureGuestEgress(env.dataDir, env.egressDeny, log).then((e) => { log(`guest egress: ${e.reason}`); return e; }));
  // Inert unless a crash test names a step (VDI_AGENT_FAULT).
  const faults = faultPoints(env.VDI_AGENT_FAULT, log);
  // Engines are confined: a user of their own per VM, QEMU's seccomp sandbox, cgroup limits.
  const users = EngineUsers.forHost(env.dataDir);
  const cgroups = env.VDI_ENGINE_CGROUPS === "off" ? noCgroups("VDI_ENGINE_CGROUPS=off") : detectCgroups();
  const supervisor = EngineSupervisor.forHost();
  log(`engine processes: ${supervisor.reason}`);
  log(`engine users: ${users.reason}`);
  log(`engine limits: ${cgroups.version ? `CPU and memory per VM in ${cgroups.reason}` : `none (${cgroups.reason})`}`);
  const qemuEngine = new QemuEngine({ qemuBinary: env.VDI_QEMU_BINARY, qemuImgBinary: env.VDI_QEMU_IMG_BINARY, imageDir: env.imageDir, accel: qemu.accel, egress, faults, users, cgroups, supervisor });
  // Our own VMM runs its guests mostly in user mode, so it works even on software-nested KVM.
  const vmmBuilt = existsSync(vmmPaths().vmm);
  const microvm = {
    available: kvm.usable && vmmBuilt,
    reason: !kvm.usable ? kvm.reason : !vmmBuilt ? `the microVM engine is not built (${vmmPaths().vmm}; run make -C native)` : `vdi-vmm on ${kvm.reason}`,
  };
  log(`microVM: ${microvm.reason}`);
  const engines = { qemu: qemuEngine, ...(microvm.available ? { "vdi-vmm": new VmmEngine({ imageDir: env.imageDir, cgroups, supervisor, users }) } : {}) };

  const capabilities = (): NodeCapabilities => ({
    engines: {
      qemu: { available: qemu.available, version: qemu.version, accel: qemu.accel, reason: qemu.reason },
      "vdi-vmm": { available: microvm.available, reason: microvm.reason },
    },
    images: existsSync(env.imageDir) ? readdirSync(env.imageDir).filter((d) => existsSync(join(env.imageDir, d, "template.json"))) : [],
  });

  // Made once the agent listens (it tells the portal where); the reconciler's changes reach it then.
  let sync: PortalSync | null = null;
  const reconciler = new Reconciler(engines, env.dataDir, () => sync?.changed(), log, { faults, supervisor });
  await reconciler.loadFromDisk();

  const consoleAccess = new ConsoleAccessTable();
  // One door for every endpoint a browser reaches (gateway/admission.ts).
  const admission = createAdmission({
    nodeId: () => sync?.nodeId() ?? null,
    publicKeyPem: () => sync?.consolePublicKeyPem() ?? null,
    mayOpen: (vmId, userId) => consoleAccess.verdict(vmId, userId),
    refreshAccess: () => accessPoll.refresh(),
  });
  const bridge = rdpBridgePath();
  const gateway = createConsoleGateway({
    admission,
    nodeId: () => sync?.nodeId() ?? null,
    publicKeyPem: () => sync?.consolePublicKeyPem() ?? null,
    protocols: {
      vnc: rfbStream((vmId) => reconciler.displayOf(vmId)),
      rdp: rdpStream({
        bridge: existsSync(bridge) ? bridge : null,
        missing: `this node has no RDP bridge (${bridge}; it is built where freerdp2-dev is installed)`,
        endpointOf: (vmId) => reconciler.rdpOf(vmId),
      }),
    },
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
    admission,
    displayOf: (vmId) => reconciler.displayOf(vmId),
    log,
  });
  const limits = connectionLimits(openFileLimit(), { maxConnections: env.VDI_NODE_MAX_CONNECTIONS, maxPerAddress: env.VDI_NODE_MAX_CONNECTIONS_PER_ADDRESS });
  // Timeouts are checked every second (Node's default is 30 s: a flood of half-sent upgrades would pile up).
  const server: Server = createServer({ connectionsCheckingInterval: 1_000 }, (req, res) => {
    if (req.url === "/healthz") {
      res.writeHead(200, { "content-type": "application/json" });
      res.end(JSON.stringify({ ok: true, registered: !!sync?.registered(), consoles: gateway.activeConnections(), connections: connections.stats() }));
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
    const path = new URL(req.url ?? "/", "http://x").pathname;
    const protocol = Object.hasOwn(UPGRADE_PATHS, path) ? UPGRADE_PATHS[path] : undefined;
    if (protocol) gateway.handleUpgrade(req, socket, head, protocol);
    else socket.destroy();
  });
  await new Promise<void>((resolve) => server.listen(env.VDI_NODE_PORT, env.VDI_NODE_HOST, resolve));
  const port = (server.address() as AddressInfo).port;
  const apiUrl = `http://${env.VDI_NODE_HOST}:${port}`;
  const consoleUrl = env.VDI_NODE_CONSOLE_URL ?? `ws://${env.VDI_NODE_HOST}:${port}`;
  log(`listening on ${apiUrl} (console ${consoleUrl}/console)`);

  sync = new PortalSync({
    portalUrl: env.VDI_PORTAL_URL,
    dataDir: env.dataDir,
    identity: { joinToken: env.VDI_NODE_JOIN_TOKEN, name: env.VDI_NODE_NAME, totalCpus: env.VDI_NODE_CPUS, totalMemoryMiB: env.VDI_NODE_MEMORY_MIB },
    endpoints: { apiUrl, consoleUrl },
    capabilities,
    reports: () => reconciler.report(),
    onDesired: (vms) => reconciler.setDesired(vms),
    onRevokedUsers: (users) => gateway.revokeUsers(users),
    onEndedSeatSessions: (ended) => gateway.endSeatSessions(ended),
    beforeSync: closeStoppedConsoles,
    log,
    longPollMs: LONG_POLL_MS,
    heartbeatMs: HEARTBEAT_MS,
  });
  const portalSync = sync;
  portalSync.start();
  // Who may open which VM's console, as the portal says now: tokens for anyone else are refused.
  const accessPoll = pollConsoleAccess({
    // A portal that hangs must not freeze the table (undici would wait 300 s).
    fetch: () => portalSync.consoleAccess(AbortSignal.timeout(10_000)),
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
    nodeId: () => portalSync.nodeId(),
    reconciler,
    async stop() {
      clearInterval(resync);
      accessPoll.stop();
      await portalSync.stop();
      gateway.close();
      await new Promise<void>((r) => server.close(() => r()));
      server.closeAllConnections();
      await reconciler.shutdown();
    },
  };
}
