// `npm start`'s supervision, through the real scripts/start.sh (portal + node agent on ports and
// folders of this test's own): a crashed child is restarted without taking the other down, a second
// start and a stale process on a port are reported and left alone, and the supervisor's children
// end with it, whether it is stopped with SIGTERM or killed with SIGKILL.
import { describe, it, expect, afterAll } from "vitest";
import { spawn, type ChildProcess } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";

const REPO = resolve(import.meta.dirname, "../..");
const built = existsSync(join(REPO, "apps/web/.next/BUILD_ID")) && existsSync(join(REPO, "var/portal.env"));
const skipReason = built ? null : "the portal is not built yet (scripts/setup.sh builds it and writes var/portal.env)";
if (skipReason) console.warn(`[skip] npm start supervision: ${skipReason}`);

const dir = mkdtempSync(join(tmpdir(), "vdi-start-"));
const PORT = 3700 + (process.pid % 200);
const NODE_PORT = PORT + 1000;
const env = {
  ...process.env, PORT: String(PORT), VDI_NODE_PORT: String(NODE_PORT), VDI_PUBLIC_URL: `http://127.0.0.1:${PORT}`,
  VDI_DATA_DIR: join(dir, "portal"), VDI_NODE_DATA_DIR: join(dir, "node"), VDI_RUN_DIR: join(dir, "run"), VDI_NODE_NAME: "starttest",
};
const started: ChildProcess[] = [];
afterAll(() => {
  for (const p of started) p.kill("SIGKILL");
  for (const f of ["portal", "agent", "supervisor"]) {
    try { process.kill(Number(readFileSync(join(dir, "run", `${f}.pid`), "utf8")), "SIGKILL"); } catch { /* gone */ }
  }
  rmSync(dir, { recursive: true, force: true });
});

function start(): { proc: ChildProcess; output: () => string; exited: Promise<number | null> } {
  const proc = spawn("bash", [join(REPO, "scripts/start.sh")], { cwd: REPO, env, stdio: ["ignore", "pipe", "pipe"] });
  started.push(proc);
  let out = "";
  proc.stdout!.on("data", (d: Buffer) => (out += d.toString()));
  proc.stderr!.on("data", (d: Buffer) => (out += d.toString()));
  return { proc, output: () => out, exited: new Promise((r) => proc.on("exit", (code) => r(code))) };
}

async function until<T>(what: string, fn: () => T | Promise<T>, ms = 90_000): Promise<NonNullable<T>> {
  for (const end = Date.now() + ms; Date.now() < end; ) {
    const v = await Promise.resolve(fn()).catch(() => null);
    if (v) return v as NonNullable<T>;
    await new Promise((r) => setTimeout(r, 200));
  }
  throw new Error(`timed out waiting for ${what}`);
}
const ok = (url: string) => fetch(url, { signal: AbortSignal.timeout(3_000) }).then((r) => r.ok, () => false);
const pidOf = (name: string) => Number(readFileSync(join(dir, "run", `${name}.pid`), "utf8"));
const alive = (pid: number) => { try { return !/^\d+ \(.*\) Z/.test(readFileSync(`/proc/${pid}/stat`, "utf8")); } catch { return false; } };

describe.skipIf(skipReason !== null)("npm start supervision", () => {
  it("restarts a crashed child alone, reports what an earlier start left, and its children end with it", async () => {
    const first = start();
    await until("the banner", () => first.output().includes("The portal is running"), 150_000);
    expect(await ok(`http://127.0.0.1:${PORT}/login`)).toBe(true);
    expect(await ok(`http://127.0.0.1:${NODE_PORT}/healthz`)).toBe(true);
    // start.sh became the supervisor (exec): the process we started is the one that owns the children.
    expect(pidOf("supervisor")).toBe(first.proc.pid);

    // The agent crashes: it comes back, and the portal stays the same process.
    const portal = pidOf("portal");
    const agent = pidOf("agent");
    process.kill(agent, "SIGKILL");
    await until("a new agent", () => pidOf("agent") !== agent && ok(`http://127.0.0.1:${NODE_PORT}/healthz`), 30_000);
    expect(pidOf("portal")).toBe(portal);
    expect(alive(portal)).toBe(true);
    // The portal crashes: it comes back, the agent stays.
    const agent2 = pidOf("agent");
    process.kill(portal, "SIGKILL");
    await until("a new portal", () => pidOf("portal") !== portal && ok(`http://127.0.0.1:${PORT}/login`), 60_000);
    expect(pidOf("agent")).toBe(agent2);
    expect(first.output()).toMatch(/agent exited \(SIGKILL\); restarting in 1 s/);

    // A second start while this one runs: reported with the pid, nothing started, nothing killed.
    const second = start();
    expect(await second.exited).toBe(3);
    expect(second.output()).toContain(`already running as pid ${first.proc.pid}`);
    expect(alive(first.proc.pid!)).toBe(true);

    // SIGKILL to the supervisor: its children end too (the kernel's parent-death signal).
    const children = [pidOf("portal"), pidOf("agent")];
    first.proc.kill("SIGKILL");
    await until("children gone after the supervisor's SIGKILL", () => children.every((p) => !alive(p)), 20_000);

    // A stale process on the agent's port: reported with its pid and left running.
    const stale = createServer().listen(NODE_PORT, "127.0.0.1");
    await new Promise((r) => stale.once("listening", r));
    const third = start();
    expect(await third.exited).toBe(3);
    expect(third.output()).toMatch(new RegExp(`port ${NODE_PORT} \\(agent\\) is taken by pid ${process.pid}`));
    stale.close();
    expect(await ok(`http://127.0.0.1:${PORT}/login`)).toBe(false);  // it started nothing, the portal included

    // SIGTERM: forwarded, the supervisor waits for both and exits 0, nothing left running.
    const fourth = start();
    await until("the banner again", () => fourth.output().includes("The portal is running"), 150_000);
    const last = [pidOf("portal"), pidOf("agent")];
    fourth.proc.kill("SIGTERM");
    expect(await fourth.exited).toBe(0);
    expect(last.filter(alive)).toEqual([]);
    expect(existsSync(join(dir, "run", "supervisor.pid"))).toBe(false);
  }, 480_000);
});
