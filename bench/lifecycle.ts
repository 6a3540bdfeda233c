// Lifecycle benchmarks of the QEMU engine, each next to a peer measured in the same run on the
// same VM, written to bench/results/lifecycle.{json,md}:
//   save / restore of a 512 MiB guest (ours: pause, migrate to a file, fsync, rename, quit; back
//     with -incoming)  vs  QEMU driven by hand (live migrate to a file, quit, no fsync; -incoming);
//   snapshot create with RAM (ours: external layer + RAM file)  vs  QEMU's internal `savevm`;
//   revert with RAM (ours: new process on a fresh layer + -incoming)  vs  `loadvm` in place;
//   linked clone (ours) vs full clone (ours, the chain flattened): time and bytes written.
// The guest first fills ~128 MiB of its RAM with random bytes (so RAM is not just zero pages) and
// writes 64 MiB to its disk (so a full clone has data to copy).
//   npx tsx bench/lifecycle.ts [runs=3]
import { spawnSync } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { connect, type Socket } from "node:net";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { QemuEngine } from "../apps/hypervisor-node/src/engines/qemu/qemu-engine.ts";
import { QmpClient } from "../apps/hypervisor-node/src/engines/qemu/qmp-client.ts";
import { vmPaths, type EngineVmSpec, type VmHandle } from "../apps/hypervisor-node/src/engines/engine.ts";

const REPO = resolve(import.meta.dirname, "..");
const IMAGES = join(REPO, "var/images");
const RUNS = Number(process.argv[2] ?? 3);
const work = mkdtempSync(join(tmpdir(), "vdi-life-bench-"));
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
const allocated = (p: string) => statSync(p).blocks * 512;

const engine = new QemuEngine({ qemuBinary: "qemu-system-x86_64", qemuImgBinary: "qemu-img", imageDir: IMAGES, accel: "tcg" });
const spec: EngineVmSpec = { id: "benchvm", name: "bench", cpus: 1, memoryMiB: 512, diskGiB: 1, macAddress: "52:54:00:be:00:01", image: "debian-shell" };
const paths = vmPaths(join(work, "vm"));
mkdirSync(paths.dir, { recursive: true });
const serial = () => (existsSync(paths.serialLog) ? readFileSync(paths.serialLog, "utf8") : "");
async function until(what: string, fn: () => boolean, ms = 120_000) {
  const end = Date.now() + ms;
  while (!fn()) { if (Date.now() > end) throw new Error(`timed out: ${what}`); await sleep(20); }
}

/** Types a line on the VM's screen over its RFB socket (RFC 6143: handshake, then KeyEvents). */
async function typeLine(line: string) {
  const s: Socket = await new Promise((res, rej) => { const c = connect(paths.vncSock); c.once("connect", () => res(c)); c.once("error", rej); });
  let buf = Buffer.alloc(0);
  const need = async (n: number) => { while (buf.length < n) await new Promise((r) => s.once("data", (d: Buffer) => { buf = Buffer.concat([buf, d]); r(null); })); const out = buf.subarray(0, n); buf = buf.subarray(n); return out; };
  await need(12); s.write("RFB 003.008\n");
  const n = (await need(1))[0]!; await need(n); s.write(Buffer.from([1]));
  await need(4); s.write(Buffer.from([1]));
  const init = await need(24); await need(init.readUInt32BE(20));
  for (const ch of `${line}\n`) {
    const shifted = /[A-Z!@#$%^&*()_+{}|:"<>?~]/.test(ch);
    const ks = ch === "\n" ? 0xff0d : ch.charCodeAt(0);
    const key = (sym: number, down: boolean) => { const b = Buffer.alloc(8); b[0] = 4; b[1] = down ? 1 : 0; b.writeUInt32BE(sym, 4); s.write(b); };
    if (shifted) key(0xffe1, true);
    key(ks, true); key(ks, false);
    if (shifted) key(0xffe1, false);
    await sleep(8);
  }
  await sleep(100);
  s.destroy();
}

async function attach(): Promise<VmHandle> { return engine.attach(paths); }
async function qmp(): Promise<QmpClient> { return QmpClient.connect(paths.controlSock); }
async function waitRunning(q: QmpClient) {
  for (;;) { const st = await q.execute<{ status: string }>("query-status"); if (st.status === "running") return; await sleep(10); }
}
const hmp = (q: QmpClient, cmd: string) => q.execute<string>("human-monitor-command", { "command-line": cmd });

const results: Record<string, { ours: number[]; peer: number[]; unit: string; peerName: string; note?: string }> = {};
const rec = (k: string, peerName: string, unit = "ms") => (results[k] ??= { ours: [], peer: [], unit, peerName });

try {
  await engine.storage.prepare(spec, paths);
  await engine.start(spec, paths);
  await until("guest ready", () => serial().includes("VDI-GUEST-READY"));
  // RAM with random bytes, and 64 MiB of data on the VM's own disk (what a full clone must copy).
  await typeLine("dd if=/dev/urandom of=/fill bs=1M count=128 2>/dev/null; dd if=/fill of=/mnt/disk/blob bs=1M count=64 2>/dev/null; sync; echo FILLED > /dev/ttyS0");
  await until("guest filled its RAM", () => serial().includes("FILLED"), 300_000);
  console.log("guest ready, ~128 MiB of RAM filled with random bytes, 64 MiB written to its disk");

  for (let i = 0; i < RUNS; i++) {
    // Save / restore: ours.
    let h = await attach();
    let t = performance.now();
    await engine.save(paths, h);
    rec("save 512 MiB guest", "QEMU by hand: live migrate to file + quit").ours.push(performance.now() - t);
    const savedBytes = allocated(paths.saved);
    t = performance.now();
    await engine.startSaved(spec, paths);
    rec("restore 512 MiB guest", "QEMU by hand: -incoming from file").ours.push(performance.now() - t);
    rmSync(paths.saved, { force: true });
    // Peer: the same by hand.
    let q = await qmp();
    const file = join(work, "peer.state");
    t = performance.now();
    await q.execute("migrate-set-parameters", { "max-bandwidth": 64 * 1024 ** 3 });  // same setting as ours
    await q.execute("migrate", { uri: `exec:cat > ${file}` });
    for (;;) { const st = await q.execute<{ status: string }>("query-migrate"); if (st.status === "completed") break; if (st.status === "failed") throw new Error("peer migrate failed"); await sleep(10); }
    await q.execute("quit").catch(() => undefined);
    q.close();
    await until("peer quit", () => engine.runningPid(paths) === null, 10_000);
    rec("save 512 MiB guest", "").peer.push(performance.now() - t);
    t = performance.now();
    await engine.start(spec, paths, undefined, file);
    q = await qmp();
    await waitRunning(q);
    q.close();
    rec("restore 512 MiB guest", "").peer.push(performance.now() - t);
    rmSync(file, { force: true });
    results["save 512 MiB guest"]!.note = `state file ${(savedBytes / 2 ** 20).toFixed(0)} MiB on disk`;

    // Snapshot with RAM: ours vs savevm.
    h = await attach();
    const dir = join(paths.dir, "snapshots", `b${i}`);
    t = performance.now();
    const bytes = await engine.snapshot(paths, h, dir, { withRam: true, progress: () => undefined });
    rec("snapshot create with RAM", "QEMU savevm (internal qcow2 snapshot)").ours.push(performance.now() - t);
    results["snapshot create with RAM"]!.note = `ours ${(bytes / 2 ** 20).toFixed(0)} MiB on disk`;
    t = performance.now();
    await engine.snapshot(paths, h, join(paths.dir, "snapshots", `d${i}`), { withRam: false, progress: () => undefined });
    rec("snapshot create, disk only (running VM)", "qemu-img snapshot -c is offline-only; no running peer").ours.push(performance.now() - t);
    q = (h as unknown as { qmp: QmpClient }).qmp;  // QMP takes one client at a time
    t = performance.now();
    const out = await hmp(q, `savevm peer${i}`);
    rec("snapshot create with RAM", "").peer.push(performance.now() - t);
    if (out.trim()) throw new Error(`savevm: ${out}`);
    // Revert with RAM: ours (new process) vs loadvm (in place).
    t = performance.now();
    await hmp(q, `loadvm peer${i}`);
    rec("revert to a RAM snapshot", "QEMU loadvm (in place, same process)").peer.push(performance.now() - t);
    await hmp(q, `delvm peer${i}`);
    h.close();
    h = await attach();
    t = performance.now();
    await engine.stop(paths, h);
    await engine.revert(spec, paths, dir);
    rec("revert to a RAM snapshot", "").ours.push(performance.now() - t);
    h.close();

    // Clones of the snapshot: linked, full (ours), and a plain full copy of the chain.
    const linked = vmPaths(join(work, `linked${i}`));
    mkdirSync(linked.dir, { recursive: true });
    t = performance.now();
    await engine.storage.prepareClone({ ...spec, id: `l${i}` }, linked, { paths, snapshotDir: dir, mode: "linked", running: false }, () => undefined);
    rec("linked clone", "full clone (ours: the chain flattened into one image)").ours.push(performance.now() - t);
    rec("linked clone bytes written", "full clone bytes written", "bytes").ours.push(allocated(linked.disk));
    const full = vmPaths(join(work, `full${i}`));
    mkdirSync(full.dir, { recursive: true });
    t = performance.now();
    await engine.storage.prepareClone({ ...spec, id: `f${i}` }, full, { paths, snapshotDir: dir, mode: "full", running: false }, () => undefined);
    rec("linked clone", "").peer.push(performance.now() - t);
    rec("linked clone bytes written", "", "bytes").peer.push(allocated(full.disk));
    for (const d of [linked.dir, full.dir]) rmSync(d, { recursive: true, force: true });
    // Start from a clean layer chain for the next run.
    await engine.storage.deleteSnapshot(paths, dir, null);
    await engine.storage.deleteSnapshot(paths, join(paths.dir, "snapshots", `d${i}`), null);
    console.log(`run ${i + 1}/${RUNS} done`);
  }
} finally {
  const h = await attach().catch(() => null);
  await engine.stop(paths, h).catch(() => undefined);
  h?.close();
}

const qemuVersion = /version ([\d.]+)/.exec(spawnSync("qemu-system-x86_64", ["--version"]).stdout.toString())?.[1];
const rows = Object.entries(results).map(([name, r]) => {
  const ours = r.ours.length ? median(r.ours) : NaN;
  const peer = r.peer.length ? median(r.peer) : NaN;
  const fmt = (x: number) => (Number.isNaN(x) ? "—" : r.unit === "bytes" ? `${(x / 2 ** 20).toFixed(2)} MiB` : `${x.toFixed(0)} ms`);
  return { name, ours: fmt(ours), peer: fmt(peer), peerName: r.peerName, ratio: Number.isNaN(peer) ? "—" : (ours / peer).toFixed(ours / peer < 0.01 ? 4 : 2), runs: r.ours.map((x) => Math.round(x)), peerRuns: r.peer.map((x) => Math.round(x)), note: r.note ?? "" };
});
mkdirSync(join(REPO, "bench/results"), { recursive: true });
writeFileSync(join(REPO, "bench/results/lifecycle.json"), JSON.stringify({ date: new Date().toISOString(), qemu: qemuVersion, accel: "tcg", runs: RUNS, rows }, null, 2));
const md = [
  `# QEMU lifecycle benchmarks (${new Date().toISOString().slice(0, 10)}, QEMU ${qemuVersion} TCG, 2 cores, median of ${RUNS})`,
  "",
  "| measure | ours | peer | peer is | ours / peer | notes |",
  "|---|---|---|---|---|---|",
  ...rows.map((r) => `| ${r.name} | ${r.ours} | ${r.peer} | ${r.peerName} | ${r.ratio} | ${r.note} |`),
  "",
  "Raw runs (ms or bytes):",
  "",
  ...rows.map((r) => `- ${r.name}: ours ${r.runs.join(", ")}${r.peerRuns.length ? `; peer ${r.peerRuns.join(", ")}` : ""}`),
  "",
].join("\n");
writeFileSync(join(REPO, "bench/results/lifecycle.md"), md);
console.log(md);
rmSync(work, { recursive: true, force: true });
