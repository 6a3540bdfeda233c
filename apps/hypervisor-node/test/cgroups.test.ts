// Engine limits in cgroups: which tree the agent finds (v2, v1, neither), what it writes for a VM,
// and that the wrapped command really joins the VM's group before it runs. On a fake tree under a
// temp folder (the kernel's files are plain files there), so every machine runs it.
import { afterEach, describe, expect, it } from "vitest";
import { spawnSync } from "node:child_process";
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { detectCgroups, engineMemoryLimit } from "../src/lib/cgroups.ts";

const roots: string[] = [];
const fakeRoot = () => { const d = mkdtempSync(join(tmpdir(), "vdi-cg-")); roots.push(d); return d; };
afterEach(() => { for (const d of roots.splice(0)) rmSync(d, { recursive: true, force: true }); });

const run = (argv: string[]) => spawnSync(argv[0]!, argv.slice(1), { encoding: "utf8" });

describe("engine cgroups", () => {
  it("finds none where nothing is mounted, and says so", () => {
    const c = detectCgroups(fakeRoot());
    expect(c.version).toBeNull();
    expect(c.reason).toMatch(/no cgroups mounted/);
    expect(c.wrap("vm1", { cpus: 1, memoryBytes: 1 }, ["/bin/echo", "x"])).toEqual(["/bin/echo", "x"]);
  });

  it("uses v1's cpu and memory trees: quota of one core more than the vCPUs, the memory cap, the process inside", () => {
    const root = fakeRoot();
    mkdirSync(join(root, "cpu"));
    mkdirSync(join(root, "memory"));
    const c = detectCgroups(root);
    expect(c.version).toBe("v1");
    const argv = c.wrap("vm1", { cpus: 2, memoryBytes: 123_456_789 }, ["/bin/sh", "-c", "echo in:$$"]);
    expect(readFileSync(join(root, "cpu/vdi-engines/vm1/cpu.cfs_quota_us"), "utf8")).toBe("300000");
    expect(readFileSync(join(root, "cpu/vdi-engines/vm1/cpu.cfs_period_us"), "utf8")).toBe("100000");
    expect(readFileSync(join(root, "memory/vdi-engines/vm1/memory.limit_in_bytes"), "utf8")).toBe("123456789");
    const r = run(argv);
    expect(r.status).toBe(0);
    const pid = /in:(\d+)/.exec(r.stdout)?.[1];
    // The shell joined both groups with its own pid, then became the command (same pid).
    for (const f of c.procsFiles("vm1")) expect(readFileSync(f, "utf8").trim()).toBe(pid);
  });

  it("uses v2 with cpu and memory enabled below the root and its group", () => {
    const root = fakeRoot();
    writeFileSync(join(root, "cgroup.controllers"), "cpuset cpu io memory pids\n");
    const c = detectCgroups(root);
    expect(c.version).toBe("v2");
    expect(readFileSync(join(root, "cgroup.subtree_control"), "utf8")).toBe("+cpu +memory");
    expect(readFileSync(join(root, "vdi-engines/cgroup.subtree_control"), "utf8")).toBe("+cpu +memory");
    const argv = c.wrap("vm2", { cpus: 1, memoryBytes: 42 }, ["/bin/true"]);
    expect(readFileSync(join(root, "vdi-engines/vm2/cpu.max"), "utf8")).toBe("200000 100000");
    expect(readFileSync(join(root, "vdi-engines/vm2/memory.max"), "utf8")).toBe("42");
    expect(run(argv).status).toBe(0);
  });

  it("refuses v2 without a memory controller, with the reason", () => {
    const root = fakeRoot();
    writeFileSync(join(root, "cgroup.controllers"), "cpu pids\n");
    const c = detectCgroups(root);
    expect(c.version).toBeNull();
    expect(c.reason).toMatch(/no memory controller/);
  });

  it("falls back to no limits when a group cannot be joined (the probe fails), instead of failing every start", () => {
    const root = fakeRoot();
    mkdirSync(join(root, "cpu"));
    mkdirSync(join(root, "memory"));
    // A folder where cgroup.procs should be: the shell's write fails, as a refused join would.
    mkdirSync(join(root, "memory/vdi-engines", `probe${process.pid}`, "cgroup.procs"), { recursive: true });
    const c = detectCgroups(root);
    expect(c.version).toBeNull();
    expect(c.reason).toMatch(/refuses engine processes/);
  });

  it("gives an engine its guest's RAM and room of its own, and TCG its translation cache", () => {
    const MiB = 1024 * 1024;
    expect(engineMemoryLimit(512, { tcg: false })).toBe((512 + 256) * MiB);
    expect(engineMemoryLimit(4096, { tcg: false })).toBe((4096 + 1024) * MiB);
    expect(engineMemoryLimit(512, { tcg: true })).toBe((512 + 256 + 1024) * MiB);
  });
});
