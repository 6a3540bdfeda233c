// A connection flood against the node's port (half-sent WebSocket upgrades from 20 addresses, far
// past its file-descriptor limit), then an agent restart: the VM keeps running with the same
// pid throughout, /healthz answers during the flood, the node is back to normal seconds after it
// with no CLOSE-WAIT left, and the restarted agent re-attaches to the same QEMU, also when its
// pid file was lost.
import { describe, it, expect } from "vitest";
import { spawnSync, type ChildProcess } from "node:child_process";
import { existsSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { connect, createServer, type Socket } from "node:net";
import { join } from "node:path";
import { IMAGES, agentFixture, guestDriver, pidAlive, qemuSkipReason, rfbHandshake, startAgent, until } from "./helpers.ts";

const TEMPLATE = join(IMAGES, "debian-shell", "template.json");
const prlimit = spawnSync("prlimit", ["--version"]).status === 0;
const skipReason = qemuSkipReason(TEMPLATE) ?? (prlimit ? null : "prlimit (util-linux) is not installed");
if (skipReason) console.warn(`[skip] connection flood: ${skipReason}`);

/** The agent runs with 1024 open files at most, so the flood is 3× what it could ever accept. */
const NOFILE = 1024;
const FLOOD = 3000;
const ADDRESSES = 20;

const freePort = () => new Promise<number>((resolve) => {
  const s = createServer().listen(0, "127.0.0.1", () => {
    const port = (s.address() as { port: number }).port;
    s.close(() => resolve(port));
  });
});

const exited = (p: ChildProcess) => new Promise<void>((r) => (p.exitCode !== null || p.signalCode !== null ? r() : p.once("exit", () => r())));

async function healthz(port: number): Promise<{ ok: boolean; connections: { open: number; evicted: number; maxConnections: number } } | null> {
  try {
    const res = await fetch(`http://127.0.0.1:${port}/healthz`, { signal: AbortSignal.timeout(2_000) });
    return res.ok ? await res.json() as never : null;
  } catch {
    return null;
  }
}

/** Sockets of `pid` in CLOSE-WAIT on the node's port. */
function closeWait(port: number): number {
  const out = spawnSync("ss", ["-Htan", "state", "close-wait", `( sport = :${port} )`]).stdout?.toString() ?? "";
  return out.split("\n").filter((l) => l.trim()).length;
}

const openFds = (pid: number) => readdirSync(`/proc/${pid}/fd`).length;

/** Opens a TCP connection from `from` and sends an upgrade request that never ends. */
function halfOpenUpgrade(port: number, from: string): Promise<Socket> {
  return new Promise((resolve) => {
    const s = connect({ port, host: "127.0.0.1", localAddress: from });
    s.on("error", () => undefined);
    s.resume();  // reads what the node says (a 408, a close), so its end is seen
    s.on("connect", () => {
      s.write("GET /console?token=x HTTP/1.1\r\nHost: node\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n");
      resolve(s);
    });
    s.on("close", () => resolve(s));
  });
}

describe.skipIf(skipReason !== null)("connection flood on the node's port (QEMU)", () => {
  const f = agentFixture(TEMPLATE, "vdi-flood-");
  let vmId = "";

  it("keeps the VM running with the same pid through a flood and an agent restart, answers /healthz, and recovers in seconds", async () => {
    const { api, server, alice, templateId, dataDir } = f;
    const c = api.caller(alice);
    const g = guestDriver(c, dataDir);
    const port = await freePort();
    const agent = () => (f.agent = startAgent(server.url, dataDir, { VDI_NODE_PORT: String(port) }, ["prlimit", `--nofile=${NOFILE}:${NOFILE}`, "--"]));
    agent();
    await until("node up", async () => (await c.node.list()).find((n) => n.up && n.engines.qemu?.available));
    const created = await c.vm.create({ templateId, name: "flood-1" });
    vmId = created.vmId;
    const operationId = created.operationId;
    await g.opDone(operationId);
    await g.ready(vmId, "flood-1");
    const pidFile = join(g.vmDir(vmId), "engine.pid");
    const pid = Number(readFileSync(pidFile, "utf8"));
    expect(pidAlive(pid)).toBe(true);
    const agentPid = f.agent!.pid!;
    const fdsBefore = openFds(agentPid);

    // The flood: 3,000 half-sent upgrades from 127.0.0.2 … 127.0.0.21, all held open.
    const t0 = Date.now();
    const sockets: Socket[] = [];
    for (let i = 0; i < FLOOD; i += 100) {
      sockets.push(...await Promise.all(Array.from({ length: 100 }, (_, j) => halfOpenUpgrade(port, `127.0.0.${2 + ((i + j) % ADDRESSES)}`))));
    }
    console.log(`flood: ${FLOOD} half-open upgrades sent in ${Date.now() - t0} ms; agent fds ${fdsBefore} → ${openFds(agentPid)} (limit ${NOFILE})`);
    // While it lasts: the agent has descriptors left, answers /healthz, keeps the VM and its reports.
    const during = await until("/healthz during the flood", () => healthz(port), 10_000);
    expect(during.ok).toBe(true);
    expect(during.connections.open).toBeLessThanOrEqual(during.connections.maxConnections);
    expect(openFds(agentPid)).toBeLessThan(NOFILE - 100);
    await new Promise((r) => setTimeout(r, 4_000));  // the reconciler's resync runs meanwhile
    expect(readFileSync(pidFile, "utf8").trim()).toBe(String(pid));
    expect(pidAlive(pid)).toBe(true);
    expect((await c.vm.get({ vmId })).state).toBe("running");
    expect((await c.node.list())[0]!.up).toBe(true);
    // Half-sent upgrades are closed by the node within seconds (headers timeout), not held forever.
    const closedByNode = await until("half-open upgrades closed by the node", () => {
      const n = sockets.filter((s) => s.destroyed || s.readableEnded).length;
      return n === sockets.length ? n : null;
    }, 20_000);
    console.log(`all ${closedByNode} flood sockets closed by the node ${Date.now() - t0} ms after the flood began; /healthz during it: ${JSON.stringify(during.connections)}`);
    for (const s of sockets) s.destroy();

    // After it: back to normal within seconds, nothing left in CLOSE-WAIT.
    const tEnd = Date.now();
    await until("no CLOSE-WAIT and fds back", () => closeWait(port) === 0 && openFds(agentPid) <= fdsBefore + 10, 10_000);
    const after = await until("/healthz after the flood", () => healthz(port), 5_000);
    console.log(`back to normal ${Date.now() - tEnd} ms after the flood: fds ${openFds(agentPid)}, open connections ${after.connections.open}, CLOSE-WAIT ${closeWait(port)}`);
    await g.say(vmId, "echo AFTER-FLOOD-$((6*7))", "AFTER-FLOOD-42");

    // Restart the agent: the same QEMU is re-attached, also with its pid file gone (identified by
    // the control socket it holds, never killed as a stray helper).
    for (const lost of [false, true]) {
      f.agent!.kill("SIGTERM");
      await exited(f.agent!);
      if (lost) rmSync(pidFile);
      agent();
      await until("agent re-registered", async () => (await healthz(port))?.ok ?? null, 30_000);
      await until("re-attached", async () => (await c.vm.get({ vmId })).state === "running", 30_000);
      await new Promise((r) => setTimeout(r, 3_500));  // a resync later, still the same process
      expect(pidAlive(pid)).toBe(true);
      expect(existsSync(pidFile) && readFileSync(pidFile, "utf8").trim()).toBe(String(pid));
      await g.say(vmId, `echo SAME-VM-${lost ? "B" : "A"}`, `SAME-VM-${lost ? "B" : "A"}`);
    }
  }, 240_000);

  it("keeps every viewer of a real QEMU display when one asks for exclusive access", async () => {
    expect(vmId).not.toBe("");
    const c = f.api.caller(f.alice);
    const first = await rfbHandshake((await c.console.open({ vmId })).url);
    let firstClosed: number | null = null;
    first.ws.removeAllListeners("close");
    first.ws.on("close", (code) => { firstClosed = code; });
    // QEMU honours shared-flag 0 by dropping every other client; through the gateway it must not.
    const exclusive = await rfbHandshake((await c.console.open({ vmId })).url, false);
    expect(exclusive.width).toBeGreaterThan(0);
    await new Promise((r) => setTimeout(r, 1_500));
    expect(firstClosed).toBeNull();
    expect(first.ws.readyState).toBe(first.ws.OPEN);
    exclusive.ws.removeAllListeners("close");
    exclusive.ws.close();
    first.ws.close();
  }, 60_000);
});
