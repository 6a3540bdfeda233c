// How the node tells whether a VM's engine runs: only a definite answer means "stopped"; an I/O
// error (EMFILE under a connection flood, EACCES, EIO) throws, and a lost pid file does not hide
// an engine that still holds the VM's control socket.
import { describe, it, expect, afterAll } from "vitest";
import { spawn } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { assertNotRunning, EngineLookupError, hostProcesses, pidOfVm, vmPaths, type ProcessTable } from "../src/engines/engine.ts";

const dir = mkdtempSync(join(tmpdir(), "vdi-lookup-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const paths = vmPaths(dir);
const err = (code: string) => Object.assign(new Error(code), { code });

function table(files: Record<string, string | Error>, mentioning: number[] | Error = []): ProcessTable {
  return {
    readFile: (p) => {
      const v = files[p];
      if (v === undefined) throw err("ENOENT");
      if (v instanceof Error) throw v;
      return v;
    },
    mentioning: () => { if (mentioning instanceof Error) throw mentioning; return mentioning; },
  };
}

describe("engine lookup", () => {
  it("throws EngineLookupError, never null, when the pid file or /proc cannot be read", () => {
    expect(() => pidOfVm(paths, table({ [paths.pidFile]: err("EMFILE") }))).toThrow(EngineLookupError);
    expect(() => pidOfVm(paths, table({ [paths.pidFile]: "4242\n", "/proc/4242/cmdline": err("EMFILE") }))).toThrow(EngineLookupError);
    expect(() => pidOfVm(paths, table({ [paths.pidFile]: "4242\n", "/proc/4242/cmdline": err("EACCES") }))).toThrow(/EACCES/);
    writeFileSync(paths.controlSock, "");
    expect(() => pidOfVm(paths, table({}, err("EMFILE")))).toThrow(/process table cannot be read/);
    rmSync(paths.controlSock);
  });

  it("says stopped only for a definite answer", () => {
    // No pid file and no control socket: never started, or gone.
    expect(pidOfVm(paths, table({}))).toBeNull();
    // The pid is another program now, no socket left: stopped.
    expect(pidOfVm(paths, table({ [paths.pidFile]: "4242\n", "/proc/4242/cmdline": "bash\0" }))).toBeNull();
    // The pid's process is gone (ENOENT/ESRCH): stopped.
    expect(pidOfVm(paths, table({ [paths.pidFile]: "4242\n", "/proc/4242/cmdline": err("ESRCH") }))).toBeNull();
    expect(pidOfVm(paths, table({ [paths.pidFile]: "4242\n", "/proc/4242/cmdline": `qemu\0-qmp\0unix:${paths.controlSock},server=on` }))).toBe(4242);
  });

  it("finds a real engine by the control socket it holds when its pid file is gone, and refuses a second start", async () => {
    writeFileSync(paths.controlSock, "");
    // A stand-in engine: a process whose command line names the socket (as QEMU's -qmp does).
    const holder = spawn("sh", ["-c", "sleep 60", paths.controlSock], { stdio: "ignore" });
    try {
      await new Promise((r) => setTimeout(r, 100));
      expect(pidOfVm(paths, hostProcesses)).toBe(holder.pid);
      expect(() => assertNotRunning(paths)).toThrow(/already runs \(pid \d+\)/);
    } finally {
      holder.kill("SIGKILL");
    }
    await new Promise((r) => setTimeout(r, 100));
    expect(pidOfVm(paths, hostProcesses)).toBeNull();
    expect(() => assertNotRunning(paths)).not.toThrow();
  });
});
