// Benchmark: create a VM through the product (API → node → QEMU → gateway) until the browser
// protocol sees the first non-blank frame, against the same QEMU started by hand and read on
// its own VNC socket. Writes bench/results/create-to-first-frame.{json,md}.
//   npx tsx bench/create-to-first-frame.ts [runs]
import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import { connect, type Socket } from "node:net";
import { mkdtempSync, readFileSync, rmSync, writeFileSync, mkdirSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import WebSocket from "ws";
import { openTestApi, serveApi } from "@vdi/api/testing";
import { seed, imageTemplateSchema } from "@vdi/api";
import { firstNonBlankFrame, type ByteLink } from "./lib/rfb-probe.ts";

const REPO = resolve(import.meta.dirname, "..");
const IMAGES = join(REPO, "var/images");
const RUNS = Number(process.argv[2] ?? 3);
const manifest = JSON.parse(readFileSync(join(IMAGES, "debian-shell/template.json"), "utf8"));
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

async function until<T>(fn: () => Promise<T | null | false>, ms = 120_000): Promise<T> {
  const end = Date.now() + ms;
  while (Date.now() < end) { const v = await fn().catch(() => null); if (v) return v; await sleep(20); }
  throw new Error("timeout");
}

function wsLink(url: string): ByteLink {
  const ws = new WebSocket(url);
  const pending: Buffer[] = [];
  ws.on("open", () => { for (const b of pending.splice(0)) ws.send(b); });
  return {
    write: (b) => (ws.readyState === ws.OPEN ? ws.send(b) : pending.push(b)),
    onData: (cb) => ws.on("message", (d: Buffer) => cb(d)),
    close: () => ws.close(),
  };
}

const serialReady = (file: string) => { try { return readFileSync(file, "utf8").includes("VDI-GUEST-READY"); } catch { return false; } };

async function peerRun(dir: string): Promise<{ frame: number; ready: number }> {
  // The peer: QEMU with the same machine, kernel and disk arguments, VNC read directly.
  const disk = join(dir, "peer.qcow2");
  rmSync(disk, { force: true });
  spawnSync("qemu-img", ["create", "-q", "-f", "qcow2", "-F", "qcow2", "-b", join(IMAGES, "debian-shell/disk.qcow2"), disk, "1G"]);
  const vnc = join(dir, "peer-vnc.sock");
  rmSync(vnc, { force: true });
  const t0 = performance.now();
  const q = spawn("qemu-system-x86_64", ["-machine", "pc,accel=tcg", "-m", "256", "-smp", "1",
    "-kernel", join(IMAGES, "debian-shell/vmlinuz"), "-initrd", join(IMAGES, "debian-shell/initrd.img"),
    "-append", `${manifest.cmdline} vdi.hostname=peer`, "-drive", `file=${disk},if=virtio,format=qcow2`,
    "-vga", "std", "-display", "none", "-vnc", `unix:${vnc}`, "-serial", `file:${join(dir, "peer-serial.log")}`, "-nodefaults", "-no-user-config"], { stdio: "ignore" });
  try {
    const s = await until(() => new Promise<Socket | null>((res) => { const c = connect(vnc); c.once("connect", () => res(c)); c.once("error", () => res(null)); }));
    const frame = await firstNonBlankFrame({ write: (b) => s.write(b), onData: (cb) => s.on("data", cb), close: () => s.destroy() }, 120_000);
    await until(async () => serialReady(join(dir, "peer-serial.log")));
    return { frame: frame.at - t0, ready: performance.now() - t0 };
  } finally {
    q.kill("SIGKILL");
  }
}

async function main() {
  const api = await openTestApi("sqlite");
  await seed(api.deps, { admin: { email: "a@b.test", password: "admin-password" }, demo: { email: "d@b.test", password: "demo-password" }, templates: [imageTemplateSchema.parse(manifest)] });
  const user = await api.makeUser("bench");
  const templateId = (await api.caller(user).template.list())[0]!.id;
  const server = await serveApi(api.deps);
  const dir = mkdtempSync(join(tmpdir(), "vdi-bench-"));
  const agent: ChildProcess = spawn(process.execPath, ["--import", "tsx", join(REPO, "apps/hypervisor-node/src/main.ts")], {
    env: { ...process.env, VDI_PORTAL_URL: server.url, VDI_NODE_JOIN_TOKEN: "test-join-token-0123456789", VDI_NODE_PORT: "0", VDI_NODE_DATA_DIR: join(dir, "node"), VDI_IMAGE_DIR: IMAGES, VDI_NODE_NAME: "bench" },
    stdio: "ignore",
  });
  const ours: { total: number; toRunning: number; ready: number }[] = [];
  const peer: { frame: number; ready: number }[] = [];
  try {
    await until(async () => (await api.caller(user).node.list()).find((n) => n.up) ?? null);
    for (let i = 0; i < RUNS; i++) {
      const t0 = performance.now();
      const { vmId } = await api.caller(user).vm.create({ templateId, name: `bench-${i}` });
      await until(async () => (await api.caller(user).vm.get({ vmId })).state === "running");
      const running = performance.now();
      const { url } = await api.caller(user).console.open({ vmId });
      const frame = await firstNonBlankFrame(wsLink(url), 120_000);
      await until(async () => serialReady(join(dir, "node/vms", vmId, "serial.log")));
      ours.push({ total: frame.at - t0, toRunning: running - t0, ready: performance.now() - t0 });
      await api.caller(user).vm.delete({ vmId });
      await until(async () => (await api.caller(user).vm.list()).length === 0);
      peer.push(await peerRun(dir));
    }
  } finally {
    agent.kill("SIGTERM");
    await server.close();
    await api.close();
    spawnSync("pkill", ["-f", dir]);
    rmSync(dir, { recursive: true, force: true });
  }
  const result = {
    benchmark: "create-to-first-frame",
    date: new Date().toISOString(),
    machine: "2 cores, QEMU TCG (software-nested KVM cannot boot the guest here)",
    runs: RUNS,
    ours_ms: ours.map((o) => Math.round(o.total)),
    ours_to_running_ms: ours.map((o) => Math.round(o.toRunning)),
    peer_bare_qemu_ms: peer.map((p) => Math.round(p.frame)),
    median_ours_ms: Math.round(median(ours.map((o) => o.total))),
    median_peer_ms: Math.round(median(peer.map((p) => p.frame))),
    ratio_ours_over_peer: +(median(ours.map((o) => o.total)) / median(peer.map((p) => p.frame))).toFixed(2),
    ours_guest_ready_ms: ours.map((o) => Math.round(o.ready)),
    peer_guest_ready_ms: peer.map((p) => Math.round(p.ready)),
    median_ours_ready_ms: Math.round(median(ours.map((o) => o.ready))),
    median_peer_ready_ms: Math.round(median(peer.map((p) => p.ready))),
  };
  mkdirSync(join(REPO, "bench/results"), { recursive: true });
  writeFileSync(join(REPO, "bench/results/create-to-first-frame.json"), JSON.stringify(result, null, 2) + "\n");
  writeFileSync(join(REPO, "bench/results/create-to-first-frame.md"),
    `# Create → first non-blank frame\n\n${result.date}, ${result.machine}, ${RUNS} runs.\n\n` +
    `| path | median | runs |\n|---|---|---|\n` +
    `| product: vm.create → node → QEMU → console token → gateway → RFB | ${result.median_ours_ms} ms | ${result.ours_ms.join(", ")} |\n` +
    `| peer: the same QEMU started by hand, RFB on its VNC socket | ${result.median_peer_ms} ms | ${result.peer_bare_qemu_ms.join(", ")} |\n\n` +
    `Ratio product / peer: **${result.ratio_ours_over_peer}** (create → running alone: ${result.ours_to_running_ms.join(", ")} ms).\n` +
    `The first non-blank frame is the firmware's text screen.\n\n` +
    `| until the guest's shell is ready (serial marker) | median | runs |\n|---|---|---|\n` +
    `| product | ${result.median_ours_ready_ms} ms | ${result.ours_guest_ready_ms.join(", ")} |\n` +
    `| peer | ${result.median_peer_ready_ms} ms | ${result.peer_guest_ready_ms.join(", ")} |\n\n` +
    `Ratio product / peer (shell ready): **${(result.median_ours_ready_ms / result.median_peer_ready_ms).toFixed(2)}**.\n`);
  console.log(JSON.stringify(result, null, 2));
}

await main();
