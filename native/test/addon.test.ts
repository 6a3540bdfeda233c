// The vdi_native addon against real processes and this host's KVM: pidfds, signals, the
// subreaper bit, exit watches that reap adopted daemons, teardown inside a worker, and KVM's
// capability ioctls. The test process makes itself a subreaper, so daemons it starts are its own.
import { describe, it, expect, beforeAll, afterAll } from "vitest";
import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import { closeSync, existsSync, readFileSync, readdirSync } from "node:fs";
import { performance } from "node:perf_hooks";
import { Worker } from "node:worker_threads";
import { KVM_CAP_NAMES, NATIVE_ADDON_PATH, kvmDevice, nativeAddon, nativeAddonReason, probeKvm, type Addon, type ProcessExit } from "../src/index.ts";

const loaded = nativeAddon();
const skip = loaded ? null : nativeAddonReason();
if (skip) console.warn(`[skip] native addon tests: ${skip}`);
const kvm = probeKvm();
const kvmSkip = skip ?? (kvm.usable ? null : kvm.reason);
if (kvmSkip && !skip) console.warn(`[skip] kvmCapabilities on ${kvmDevice()}: ${kvmSkip}`);

const WATCH_THREAD = "vdi-pidfd-watch";
const started: number[] = [];

// Only ever called inside describe.skipIf(skip), where the addon is loaded.
const addon = (): Addon => loaded!;

function watch(fd: number, options?: { reap?: boolean }): Promise<{ exit: ProcessExit; at: number }> {
  return new Promise((resolve) => addon().watchPidfd(fd, (exit) => resolve({ exit, at: performance.now() }), options));
}

async function spawnSleep(): Promise<ChildProcess & { pid: number }> {
  const child = spawn("sleep", ["30"], { stdio: "ignore" });
  await new Promise((resolve, reject) => child.once("spawn", resolve).once("error", reject));
  started.push(child.pid!);
  return child as ChildProcess & { pid: number };
}

function exitOf(child: ChildProcess): Promise<{ code: number | null; signal: NodeJS.Signals | null }> {
  return new Promise((resolve) => child.once("exit", (code, signal) => resolve({ code, signal })));
}

function parentOf(pid: number): number | null {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    return Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[1]);
  } catch {
    return null;
  }
}

/** Starts `script` in the background of a shell that exits at once: the orphan is reparented to us. */
async function adoptDaemon(script = "sleep 30"): Promise<number> {
  const sh = spawn("sh", ["-c", `(${script}) >/dev/null 2>&1 </dev/null & echo $!`], { stdio: ["ignore", "pipe", "ignore"] });
  let out = "";
  sh.stdout!.on("data", (d: Buffer) => (out += d.toString()));
  // "close", not "exit": the exit can be heard before the pipe's last bytes are read.
  const code = await new Promise<number | null>((resolve) => sh.once("close", (c: number | null) => resolve(c)));
  expect(code).toBe(0);
  const pid = Number(out.trim());
  expect(Number.isInteger(pid) && pid > 0).toBe(true);
  started.push(pid);
  expect(parentOf(pid)).toBe(process.pid);
  return pid;
}

function watchThreads(): number {
  let n = 0;
  for (const tid of readdirSync("/proc/self/task")) {
    try {
      if (readFileSync(`/proc/self/task/${tid}/comm`, "utf8").trim() === WATCH_THREAD) n++;
    } catch {
      // the thread ended between the listing and the read
    }
  }
  return n;
}

async function until(what: string, ok: () => boolean, ms = 2000): Promise<void> {
  const end = performance.now() + ms;
  while (!ok()) {
    if (performance.now() > end) throw new Error(`timed out after ${ms} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

function thrown(fn: () => unknown): NodeJS.ErrnoException {
  try {
    fn();
  } catch (err) {
    return err as NodeJS.ErrnoException;
  }
  throw new Error("expected a throw");
}

it("nativeAddon() loads the built addon, or says why not", () => {
  if (loaded) expect(nativeAddonReason()).toBeNull();
  else expect(nativeAddonReason()).toMatch(/native addon/);
  expect(NATIVE_ADDON_PATH).toMatch(/build\/vdi_native\.node$/);
});

describe.skipIf(skip !== null)("native addon: process supervision", () => {
  beforeAll(() => {
    expect(addon().setChildSubreaper()).toBe(true);
  });
  afterAll(() => {
    for (const pid of started) {
      try {
        process.kill(pid, "SIGKILL");
      } catch {
        // already gone, as it should be
      }
    }
    addon().setChildSubreaper(false);
  });

  it("the subreaper bit reads back as set and cleared", () => {
    expect(addon().setChildSubreaper(false)).toBe(false);
    expect(addon().isChildSubreaper()).toBe(false);
    expect(addon().setChildSubreaper(true)).toBe(true);
    expect(addon().isChildSubreaper()).toBe(true);
  });

  it("pidfdOpen of a pid that does not exist throws ESRCH", () => {
    // pids run from 1 to pid_max - 1, so pid_max itself never names a process.
    const pidMax = Number(readFileSync("/proc/sys/kernel/pid_max", "utf8"));
    const err = thrown(() => addon().pidfdOpen(pidMax));
    expect(err.code).toBe("ESRCH");
    expect(err.syscall).toBe("pidfd_open");
    expect(err.message).toMatch(/^ESRCH: /);
  });

  it("rejects arguments that are not pids, fds, signals or callbacks with a TypeError", async () => {
    const a = addon();
    for (const bad of [() => a.pidfdOpen(0), () => a.pidfdOpen(1.5), () => a.pidfdOpen("1" as unknown as number),
      () => a.pidfdSendSignal(-1, 9), () => a.pidfdSendSignal(0, 99), () => a.kvmCapabilities(1 as unknown as string)]) {
      expect(bad).toThrow(TypeError);
    }
    const child = await spawnSleep();
    const fd = a.pidfdOpen(child.pid);
    try {
      expect(() => a.watchPidfd(fd, 42 as unknown as () => void)).toThrow(TypeError);
      expect(() => a.watchPidfd(fd, () => undefined, { reap: "yes" as unknown as boolean })).toThrow(TypeError);
      // An fd that is not a pidfd is refused at the call, not silently watched forever.
      expect(thrown(() => a.watchPidfd(0, () => undefined)).code).toBe("EBADF");
    } finally {
      child.kill("SIGKILL");
      closeSync(fd);
    }
  });

  it("pidfdSendSignal kills a live child, and throws ESRCH once it has been reaped", async () => {
    const child = await spawnSleep();
    const fd = addon().pidfdOpen(child.pid);
    try {
      const exited = exitOf(child);
      addon().pidfdSendSignal(fd, 9);
      expect(await exited).toEqual({ code: null, signal: "SIGKILL" });
      // libuv has reaped it: the pidfd now names a process that is gone for good.
      const err = thrown(() => addon().pidfdSendSignal(fd, 15));
      expect(err.code).toBe("ESRCH");
      expect(err.syscall).toBe("pidfd_send_signal");
    } finally {
      closeSync(fd);
    }
  });

  it("an adopted daemon killed from outside is reported within 200 ms, reaped, with no zombie left", async () => {
    const pid = await adoptDaemon();
    const fd = addon().pidfdOpen(pid);
    try {
      const ended = watch(fd);
      const killedAt = performance.now();
      process.kill(pid, "SIGKILL");
      const { exit, at } = await ended;
      expect(exit).toEqual({ exited: true, code: null, signal: 9, reaped: true });
      expect(at - killedAt).toBeLessThan(200);
      expect(existsSync(`/proc/${pid}`)).toBe(false);
      expect(thrown(() => addon().pidfdSendSignal(fd, 0)).code).toBe("ESRCH");
    } finally {
      closeSync(fd);
    }
  });

  it("an adopted daemon that exits by itself reports its exit code", async () => {
    const pid = await adoptDaemon("sleep 0.2; exit 7");
    const fd = addon().pidfdOpen(pid);
    try {
      const { exit } = await watch(fd);
      expect(exit).toEqual({ exited: true, code: 7, signal: null, reaped: true });
      expect(existsSync(`/proc/${pid}`)).toBe(false);
    } finally {
      closeSync(fd);
    }
  });

  it("closing the caller's fd right after watchPidfd does not lose the exit", async () => {
    const pid = await adoptDaemon();
    const fd = addon().pidfdOpen(pid);
    const ended = watch(fd);
    closeSync(fd);
    process.kill(pid, "SIGKILL");
    expect((await ended).exit).toEqual({ exited: true, code: null, signal: 9, reaped: true });
    expect(existsSync(`/proc/${pid}`)).toBe(false);
  });

  it("a child_process child watched with reap: false still emits exit", async () => {
    const child = await spawnSleep();
    const fd = addon().pidfdOpen(child.pid);
    try {
      const ended = watch(fd, { reap: false });
      const exited = exitOf(child);
      process.kill(child.pid, "SIGKILL");
      const { exit } = await ended;
      expect(exit.exited).toBe(true);
      expect(exit.reaped).toBe(false);
      // Whether the watch read the status first or libuv reaped it first is a race; both are fine.
      expect([9, null]).toContain(exit.signal);
      expect(exit.code).toBeNull();
      expect(await exited).toEqual({ code: null, signal: "SIGKILL" });
    } finally {
      closeSync(fd);
    }
  });

  it("watching a process that is already gone reports at once, unreaped", async () => {
    const child = await spawnSleep();
    const fd = addon().pidfdOpen(child.pid);
    try {
      const exited = exitOf(child);
      child.kill("SIGKILL");
      await exited;
      expect((await watch(fd)).exit).toEqual({ exited: true, code: null, signal: null, reaped: false });
    } finally {
      closeSync(fd);
    }
  });

  it("one thread per pending watch, gone once the process has ended", async () => {
    await until("earlier watch threads to end", () => watchThreads() === 0);
    const pid = await adoptDaemon();
    const fd = addon().pidfdOpen(pid);
    try {
      const ended = watch(fd);
      await until("the watch thread to start", () => watchThreads() === 1);
      process.kill(pid, "SIGKILL");
      await ended;
      await until("the watch thread to end", () => watchThreads() === 0);
    } finally {
      closeSync(fd);
    }
  });

  it("a pending watch does not keep a Node process alive", () => {
    // The child watches this test process, which outlives it; its event loop must still drain.
    const script = `const a = require(${JSON.stringify(NATIVE_ADDON_PATH)});
      a.watchPidfd(a.pidfdOpen(process.ppid), () => { console.log("called"); });
      console.log("watching");`;
    const r = spawnSync(process.execPath, ["-e", script], { encoding: "utf8", timeout: 10_000 });
    expect(r.error).toBeUndefined();
    expect(r.signal).toBeNull();
    expect(r.status).toBe(0);
    expect(r.stdout.trim()).toBe("watching");
  });

  it("a worker that loads the addon too and is terminated mid-watch leaves no thread behind", async () => {
    await until("earlier watch threads to end", () => watchThreads() === 0);
    const child = await spawnSleep();
    const worker = new Worker(
      `const { workerData, parentPort } = require("node:worker_threads");
       const a = require(workerData.path);
       a.watchPidfd(a.pidfdOpen(workerData.pid), () => parentPort.postMessage("called"));
       setInterval(() => {}, 1000); // alive until terminated: the watch itself does not hold it
       parentPort.postMessage("watching");`,
      { eval: true, workerData: { path: NATIVE_ADDON_PATH, pid: child.pid } },
    );
    const messages: string[] = [];
    worker.on("message", (m: string) => messages.push(m));
    await until("the worker to watch", () => messages.includes("watching"), 10_000);
    await until("the worker's watch thread to start", () => watchThreads() === 1);
    await worker.terminate();
    // The environment's teardown wakes the thread; a use of the freed TSFN would crash this process.
    await until("the torn-down watch's thread to end", () => watchThreads() === 0);
    const exited = exitOf(child);
    process.kill(child.pid, "SIGKILL");
    await exited;
    expect(messages).toEqual(["watching"]);
    // The main thread's instance is unaffected.
    const fd = addon().pidfdOpen(process.pid);
    addon().pidfdSendSignal(fd, 0);
    closeSync(fd);
  });

  it("workers that alone load the addon can exit mid-watch, and a later worker loads it again", () => {
    // Node unloads an addon with the last worker that loaded it; a watch thread woken by that
    // worker's teardown must not be left running unmapped code (this crashed before -z nodelete).
    const script = `const { Worker } = require("node:worker_threads");
      const { spawn } = require("node:child_process");
      const code = 'const { workerData, parentPort } = require("node:worker_threads");' +
        'const a = require(workerData.path);' +
        'const keep = workerData.stay ? setInterval(() => {}, 1000) : undefined;' +
        'a.watchPidfd(a.pidfdOpen(workerData.pid), (s) => { parentPort.postMessage(s); clearInterval(keep); }, { reap: false });' +
        'parentPort.postMessage("watching");';
      const run = (pid, stay, onMessage) => new Promise((resolve, reject) => {
        const w = new Worker(code, { eval: true, workerData: { path: ${JSON.stringify(NATIVE_ADDON_PATH)}, pid, stay } });
        const got = [];
        w.on("message", (m) => { got.push(m); onMessage(m); });
        w.on("error", reject);
        w.on("exit", () => resolve(got));
      });
      const sleep = spawn("sleep", ["30"], { stdio: "ignore" });
      sleep.on("spawn", async () => {
        const first = await run(sleep.pid, false, () => {});
        await new Promise((r) => setTimeout(r, 200));
        const second = await run(sleep.pid, true, (m) => { if (m === "watching") sleep.kill("SIGKILL"); });
        console.log(JSON.stringify({ first, second }));
      });`;
    const r = spawnSync(process.execPath, ["-e", script], { encoding: "utf8", timeout: 20_000 });
    expect(r.error).toBeUndefined();
    expect({ status: r.status, signal: r.signal, stderr: r.stderr }).toEqual({ status: 0, signal: null, stderr: "" });
    const { first, second } = JSON.parse(r.stdout) as { first: unknown[]; second: [string, ProcessExit] };
    expect(first).toEqual(["watching"]);
    expect(second[0]).toBe("watching");
    expect(second[1]).toMatchObject({ exited: true, code: null, reaped: false });
    expect([9, null]).toContain(second[1].signal);
  });
});

describe.skipIf(skip !== null)("native addon: KVM capabilities", () => {
  it.skipIf(kvmSkip !== null)(`kvmCapabilities(${kvmDevice()}) reports API version 12 and every capability`, () => {
    const caps = addon().kvmCapabilities(kvmDevice());
    expect(caps.apiVersion).toBe(12);
    expect(caps.vcpuMmapSize).toBeGreaterThanOrEqual(4096);
    expect(Object.keys(caps.caps).sort()).toEqual([...KVM_CAP_NAMES].sort());
    expect(caps.caps.KVM_CAP_USER_MEMORY).toBeGreaterThan(0);
    expect(caps.caps.KVM_CAP_NR_MEMSLOTS).toBeGreaterThan(0);
    console.log(`[info] ${kvmDevice()}: ${JSON.stringify(caps)}`);
  });

  it("kvmCapabilities of a device that does not exist throws ENOENT", () => {
    const err = thrown(() => addon().kvmCapabilities("/nonexistent"));
    expect(err.code).toBe("ENOENT");
    expect(err.path).toBe("/nonexistent");
    expect(err.syscall).toBe("open");
  });

  it("kvmCapabilities of a device that is not KVM throws ENOTTY", () => {
    const err = thrown(() => addon().kvmCapabilities("/dev/null"));
    expect(err.code).toBe("ENOTTY");
    expect(err.syscall).toBe("ioctl");
  });
});
