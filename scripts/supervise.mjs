// The embedded default's supervisor (npm start → scripts/start.sh → exec this): it owns the portal
// and the node agent. Each child runs under `setpriv --pdeathsig TERM`, so it ends when the
// supervisor ends, even by kill -9; SIGINT and SIGTERM are forwarded, and the supervisor waits for
// the children before it exits. A child that exits on its own is restarted with backoff (1 s
// doubling to 30 s; a run of 60 s resets it), and never takes the other one down. Before starting,
// it looks for what an earlier start left: a supervisor still running, or a process holding a
// child's port, is reported with its pid and left alone. (systemd units come later.)
// Usage: node scripts/supervise.mjs <spec.json>, spec: { runDir, children: [{ name, argv, port, host, health }] }
import { spawn } from "node:child_process";
import { existsSync, mkdirSync, readFileSync, readdirSync, readlinkSync, renameSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";

const FIRST_BACKOFF_MS = 1_000;
const MAX_BACKOFF_MS = 30_000;
const STABLE_MS = 60_000;
const STOP_GRACE_MS = 10_000;

const spec = JSON.parse(readFileSync(process.argv[2], "utf8"));
const log = (msg) => console.log(`[supervisor] ${msg}`);

/** Is `pid` alive (and not a zombie)? */
function alive(pid) {
  try {
    return !/^\d+ \(.*\) Z/.test(readFileSync(`/proc/${pid}/stat`, "utf8"));
  } catch {
    return false;
  }
}

/** The pid of the process that has a TCP socket listening on `port` (from /proc/net/tcp*), or null. */
function listenerOf(port) {
  const inodes = new Set();
  for (const f of ["/proc/net/tcp", "/proc/net/tcp6"]) {
    if (!existsSync(f)) continue;
    for (const line of readFileSync(f, "utf8").split("\n").slice(1)) {
      const cols = line.trim().split(/\s+/);
      if (cols.length < 10 || cols[3] !== "0A") continue;  // 0A: LISTEN
      if (parseInt(cols[1].split(":")[1], 16) === port) inodes.add(cols[9]);
    }
  }
  if (inodes.size === 0) return null;
  for (const e of readdirSync("/proc")) {
    if (!/^\d+$/.test(e)) continue;
    let fds;
    try { fds = readdirSync(`/proc/${e}/fd`); } catch { continue; }
    for (const fd of fds) {
      try {
        const m = /^socket:\[(\d+)\]$/.exec(readlinkSync(`/proc/${e}/fd/${fd}`));
        if (m && inodes.has(m[1])) return Number(e);
      } catch { /* closed meanwhile */ }
    }
  }
  return -1;  // listening, but not by a process we can see
}

const cmdline = (pid) => { try { return readFileSync(`/proc/${pid}/cmdline`, "utf8").split("\0").join(" ").trim(); } catch { return "?"; } };

// 1. What an earlier start left behind: reported, never fought.
mkdirSync(spec.runDir, { recursive: true });
const pidFile = join(spec.runDir, "supervisor.pid");
const earlier = existsSync(pidFile) ? Number(readFileSync(pidFile, "utf8")) : null;
if (earlier && earlier !== process.pid && alive(earlier) && cmdline(earlier).includes("supervise.mjs")) {
  console.error(`[supervisor] already running as pid ${earlier} (started earlier): stop it first (kill ${earlier}), or use that one`);
  process.exit(3);
}
for (const c of spec.children) {
  const holder = c.port ? listenerOf(c.port) : null;
  if (holder !== null) {
    const who = holder > 0 ? `pid ${holder}: ${cmdline(holder).slice(0, 160)}` : "a process this user cannot see";
    console.error(`[supervisor] port ${c.port} (${c.name}) is taken by ${who}. An earlier start may have left it running: stop it (kill ${holder > 0 ? holder : "<pid>"}) and run npm start again. Nothing was started.`);
    process.exit(3);
  }
}
writeFileSync(`${pidFile}.tmp`, `${process.pid}\n`);
renameSync(`${pidFile}.tmp`, pidFile);

// 2. The children.
let stopping = false;
const children = spec.children.map((c) => ({ ...c, proc: null, backoff: FIRST_BACKOFF_MS, timer: null }));

function start(c) {
  c.timer = null;
  if (stopping) return;
  const startedAt = Date.now();
  // setpriv --pdeathsig: the kernel sends the child SIGTERM when this process dies, however it dies.
  const proc = spawn("setpriv", ["--pdeathsig", "TERM", "--", ...c.argv], { stdio: ["ignore", "inherit", "inherit"], env: { ...process.env, ...(c.env ?? {}) } });
  c.proc = proc;
  log(`${c.name} started (pid ${proc.pid})`);
  writeFileSync(join(spec.runDir, `${c.name}.pid`), `${proc.pid}\n`);
  proc.on("error", (e) => log(`${c.name} could not be started: ${e.message} (is setpriv, from util-linux, installed?)`));
  proc.on("exit", (code, signal) => {
    c.proc = null;
    if (stopping) return;
    if (Date.now() - startedAt > STABLE_MS) c.backoff = FIRST_BACKOFF_MS;
    log(`${c.name} exited (${signal ?? `code ${code}`}); restarting in ${Math.round(c.backoff / 1000)} s`);
    c.timer = setTimeout(() => start(c), c.backoff);
    c.backoff = Math.min(MAX_BACKOFF_MS, c.backoff * 2);
  });
}

/** Waits until `url` answers (a child's health), at most `ms`. */
async function healthy(url, ms) {
  for (const end = Date.now() + ms; Date.now() < end; ) {
    try { if ((await fetch(url, { signal: AbortSignal.timeout(2_000) })).ok) return true; } catch { /* not yet */ }
    await new Promise((r) => setTimeout(r, 200));
  }
  return false;
}

function stop(signal) {
  if (stopping) return;
  stopping = true;
  log(`${signal}: stopping ${children.map((c) => c.name).join(" and ")} (VMs keep running)`);
  for (const c of children) {
    clearTimeout(c.timer);
    c.proc?.kill("SIGTERM");
  }
  const deadline = setTimeout(() => {
    for (const c of children) c.proc?.kill("SIGKILL");
  }, STOP_GRACE_MS);
  const check = setInterval(() => {
    if (children.some((c) => c.proc)) return;
    clearInterval(check);
    clearTimeout(deadline);
    rmSync(pidFile, { force: true });
    for (const c of children) rmSync(join(spec.runDir, `${c.name}.pid`), { force: true });
    process.exit(0);
  }, 50);
}
for (const s of ["SIGINT", "SIGTERM", "SIGHUP"]) process.on(s, () => stop(s));

// In order: each child once the one before it answers (the agent registers with the portal).
for (const c of children) {
  start(c);
  if (c.health && !(await healthy(c.health, 60_000))) log(`${c.name} is not answering ${c.health} yet; going on`);
}
if (spec.banner) console.log(spec.banner);
