// CPU and memory limits for engine processes, in a cgroup of their own per VM. The machine's
// cgroups are looked at once, at start: v2 (one unified tree, /sys/fs/cgroup/cgroup.controllers),
// v1 (a tree per controller: /sys/fs/cgroup/cpu, /sys/fs/cgroup/memory), or neither usable (not
// mounted, read-only, no cpu or memory controller). With neither, engines run without these
// limits and the agent says so once in its log; the guest's own size (-m, --mem) still bounds its RAM.
import { spawnSync } from "node:child_process";
import { existsSync, mkdirSync, readFileSync, rmdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";

export interface EngineLimits {
  /** vCPUs the guest has; the engine gets one core more for its own threads (I/O, display, migration). */
  cpus: number;
  /** The most memory the engine process may hold, in bytes (guest RAM plus the engine's own). */
  memoryBytes: number;
}

export interface CgroupPlacement {
  /** "v1", "v2", or null when neither can be used on this machine. */
  readonly version: "v1" | "v2" | null;
  /** What the agent found, for its log and the node's report. */
  readonly reason: string;
  /**
   * Makes the VM's cgroup with its limits and returns `argv` wrapped so that the process joins it
   * before it runs (its memory is counted from its first page). Without cgroups, `argv` as it is.
   */
  wrap(vmId: string, limits: EngineLimits, argv: string[]): string[];
  /** The cgroup files that list the VM's processes (empty without cgroups). */
  procsFiles(vmId: string): string[];
  /** Removes the VM's cgroup once nothing runs in it (a no-op while something does). */
  release(vmId: string): void;
}

const GROUP = "vdi-engines";
const PERIOD_US = 100_000;
const VM_ID = /^[a-z0-9]{1,64}$/;

/**
 * The memory an engine may hold: the guest's RAM, a quarter more (at least 256 MiB) for the
 * engine's own (device state, display, buffers), and 1 GiB more for QEMU's TCG translation cache.
 */
export function engineMemoryLimit(guestMiB: number, opts: { tcg: boolean }): number {
  const mib = guestMiB + Math.max(256, Math.ceil(guestMiB / 4)) + (opts.tcg ? 1024 : 0);
  return mib * 1024 * 1024;
}

/** The shell that puts itself into the listed cgroups, then becomes the engine (same pid). */
const JOIN = 'n=$1; shift; while [ "$n" -gt 0 ]; do echo $$ > "$1" || exit 97; shift; n=$((n-1)); done; exec "$@"';

function tryWrite(file: string, value: string): string | null {
  try {
    writeFileSync(file, value);
    return null;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code ?? "error";
  }
}

class NoCgroups implements CgroupPlacement {
  readonly version = null;
  constructor(readonly reason: string) {}
  wrap(_vmId: string, _limits: EngineLimits, argv: string[]) { return argv; }
  procsFiles() { return []; }
  release() {}
}

/** cgroup v1: the VM's group under the cpu and the memory controller's trees. */
class CgroupsV1 implements CgroupPlacement {
  readonly version = "v1" as const;
  constructor(private readonly root: string, readonly reason: string) {}
  private dirs(vmId: string) {
    if (!VM_ID.test(vmId)) throw new Error(`invalid VM id for a cgroup: ${vmId}`);
    return { cpu: join(this.root, "cpu", GROUP, vmId), memory: join(this.root, "memory", GROUP, vmId) };
  }
  wrap(vmId: string, limits: EngineLimits, argv: string[]) {
    const d = this.dirs(vmId);
    mkdirSync(d.cpu, { recursive: true });
    mkdirSync(d.memory, { recursive: true });
    writeFileSync(join(d.cpu, "cpu.cfs_period_us"), String(PERIOD_US));
    writeFileSync(join(d.cpu, "cpu.cfs_quota_us"), String((limits.cpus + 1) * PERIOD_US));
    writeFileSync(join(d.memory, "memory.limit_in_bytes"), String(limits.memoryBytes));
    return ["/bin/sh", "-c", JOIN, "vdi-cgroup", "2", join(d.cpu, "cgroup.procs"), join(d.memory, "cgroup.procs"), ...argv];
  }
  procsFiles(vmId: string) {
    const d = this.dirs(vmId);
    return [join(d.cpu, "cgroup.procs"), join(d.memory, "cgroup.procs")];
  }
  release(vmId: string) {
    for (const dir of Object.values(this.dirs(vmId))) {
      try { rmdirSync(dir); } catch { /* busy (still running) or gone */ }
    }
  }
}

/** cgroup v2: one group, vdi-engines/<vm>, with the cpu and memory controllers enabled above it. */
class CgroupsV2 implements CgroupPlacement {
  readonly version = "v2" as const;
  constructor(private readonly root: string, readonly reason: string) {}
  private dir(vmId: string) {
    if (!VM_ID.test(vmId)) throw new Error(`invalid VM id for a cgroup: ${vmId}`);
    return join(this.root, GROUP, vmId);
  }
  wrap(vmId: string, limits: EngineLimits, argv: string[]) {
    const d = this.dir(vmId);
    mkdirSync(d, { recursive: true });
    writeFileSync(join(d, "cpu.max"), `${(limits.cpus + 1) * PERIOD_US} ${PERIOD_US}`);
    writeFileSync(join(d, "memory.max"), String(limits.memoryBytes));
    return ["/bin/sh", "-c", JOIN, "vdi-cgroup", "1", join(d, "cgroup.procs"), ...argv];
  }
  procsFiles(vmId: string) {
    return [join(this.dir(vmId), "cgroup.procs")];
  }
  release(vmId: string) {
    try { rmdirSync(this.dir(vmId)); } catch { /* busy or gone */ }
  }
}

/** Looks at the machine's cgroups (under `root`) and says which can hold engine limits. */
export function detectCgroups(root = "/sys/fs/cgroup"): CgroupPlacement {
  const unified = join(root, "cgroup.controllers");
  if (existsSync(unified)) {
    let controllers: string[];
    try { controllers = readFileSync(unified, "utf8").trim().split(/\s+/); } catch (e) { return new NoCgroups(`cgroup v2 at ${root} cannot be read (${(e as NodeJS.ErrnoException).code})`); }
    const missing = ["cpu", "memory"].filter((c) => !controllers.includes(c));
    if (missing.length) return new NoCgroups(`cgroup v2 at ${root} has no ${missing.join(" or ")} controller`);
    const base = join(root, GROUP);
    try { mkdirSync(base, { recursive: true }); } catch (e) { return new NoCgroups(`cgroup v2 at ${root} is not writable (${(e as NodeJS.ErrnoException).code})`); }
    // Children of a group get a controller only when every group above enables it for them.
    for (const dir of [root, base]) {
      const err = tryWrite(join(dir, "cgroup.subtree_control"), "+cpu +memory");
      if (err) return new NoCgroups(`cgroup v2: cannot enable cpu and memory below ${dir} (${err})`);
    }
    return probed(new CgroupsV2(root, `cgroup v2 (${base})`));
  }
  const v1 = ["cpu", "memory"].map((c) => join(root, c));
  const absent = v1.filter((d) => !existsSync(d));
  if (absent.length === 2) return new NoCgroups(`no cgroups mounted at ${root}`);
  if (absent.length) return new NoCgroups(`cgroup v1 at ${root} lacks ${absent.join(" and ")}`);
  for (const d of v1) {
    try { mkdirSync(join(d, GROUP), { recursive: true }); } catch (e) { return new NoCgroups(`cgroup v1 ${d} is not writable (${(e as NodeJS.ErrnoException).code})`); }
  }
  return probed(new CgroupsV1(root, `cgroup v1 (${v1.map((d) => join(d, GROUP)).join(", ")})`));
}

/**
 * Tries the whole path once (a group with limits, a shell that joins it and exits, the group
 * removed), so that a machine where any step is refused runs engines without limits and says why,
 * instead of failing every start.
 */
function probed(c: CgroupPlacement): CgroupPlacement {
  const id = `probe${process.pid}`;
  try {
    const argv = c.wrap(id, { cpus: 1, memoryBytes: 64 * 1024 * 1024 }, ["/bin/true"]);
    const r = spawnSync(argv[0]!, argv.slice(1), { timeout: 10_000, encoding: "utf8" });
    if (r.status !== 0) return new NoCgroups(`${c.reason} refuses engine processes: ${(r.stderr || `exit ${r.status ?? r.signal}`).trim().slice(0, 200)}`);
    return c;
  } catch (e) {
    return new NoCgroups(`${c.reason} cannot hold limits: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
  } finally {
    c.release(id);
  }
}

/** No limits (a node told not to use cgroups, or a test). */
export function noCgroups(reason: string): CgroupPlacement {
  return new NoCgroups(reason);
}
