// The Node-API addon (build/vdi_native.node, from native/addon/ by `make -C native`): what the
// node agent's engine supervision needs from Linux that Node lacks. Optional: without it the
// product runs, and nativeAddonReason() says why it is missing.
import { existsSync } from "node:fs";
import { createRequire } from "node:module";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

/** How a watched process ended, as watchPidfd reports it. */
export interface ProcessExit {
  /** True once the process has ended; false only when the watch itself failed (fate unknown). */
  exited: boolean;
  /** Exit status, when the watch read it (see `reaped`), else null. */
  code: number | null;
  /** Number of the signal that killed it, when the watch read it, else null. */
  signal: number | null;
  /**
   * The watch reaped it (waitid), so no zombie is left. False when it was not our child, or was
   * reaped by someone else first (libuv reaps what child_process spawned): then code and signal
   * are null, and the exit status is only where that reaper reported it.
   */
  reaped: boolean;
}

export interface WatchOptions {
  /**
   * Reap the process when it ends (default true): for daemons adopted through
   * setChildSubreaper(), which nobody else waits for. Pass false for a child that
   * child_process spawned: reaping it steals libuv's waitpid and its ChildProcess never emits
   * "exit". With false the watch still reads the status when it gets there before libuv.
   */
  reap?: boolean;
}

export const KVM_CAP_NAMES = [
  "KVM_CAP_USER_MEMORY", "KVM_CAP_NR_VCPUS", "KVM_CAP_MAX_VCPUS", "KVM_CAP_IRQCHIP", "KVM_CAP_SET_TSS_ADDR",
  "KVM_CAP_IMMEDIATE_EXIT", "KVM_CAP_NR_MEMSLOTS", "KVM_CAP_PIT2", "KVM_CAP_ADJUST_CLOCK",
] as const;
export type KvmCapName = (typeof KVM_CAP_NAMES)[number];

export interface KvmCapabilities {
  /** KVM_GET_API_VERSION: 12 on every kernel since 2.6.22. */
  apiVersion: number;
  /** KVM_GET_VCPU_MMAP_SIZE: bytes of each vCPU's shared kvm_run area. */
  vcpuMmapSize: number;
  /** KVM_CHECK_EXTENSION for each name: 0 when absent, else the capability's value. */
  caps: Record<KvmCapName, number>;
}

/**
 * The addon's functions. Failing system calls throw an Error shaped like Node's own
 * (NodeJS.ErrnoException: `code` such as "ESRCH", negative `errno`, `syscall`; `path` for
 * kvmCapabilities); bad arguments throw a TypeError. Fds it returns are O_CLOEXEC; close them
 * with fs.closeSync.
 */
export interface Addon {
  /** pidfd_open(2): a handle to `pid` that a reused pid cannot alias. ESRCH when there is no such process. */
  pidfdOpen(pid: number): number;
  /** pidfd_send_signal(2); signal 0 only checks. ESRCH once the process has ended and been reaped. */
  pidfdSendSignal(fd: number, signal: number): void;
  /** prctl(PR_SET_CHILD_SUBREAPER) for the whole process (default true); returns the bit as read back. */
  setChildSubreaper(enabled?: boolean): boolean;
  /** prctl(PR_GET_CHILD_SUBREAPER). */
  isChildSubreaper(): boolean;
  /**
   * Calls `onExit` once, on the JS thread, when the process behind `fd` ends. The watch works on
   * its own duplicate of `fd` (the caller may close theirs at once) and does not keep the event
   * loop alive. One thread per watch until the process ends.
   */
  watchPidfd(fd: number, onExit: (exit: ProcessExit) => void, options?: WatchOptions): void;
  /** Opens `device` O_RDWR and asks KVM's version, vCPU mmap size and the KVM_CAP_NAMES capabilities. */
  kvmCapabilities(device: string): KvmCapabilities;
}

const FUNCTIONS = ["pidfdOpen", "pidfdSendSignal", "setChildSubreaper", "isChildSubreaper", "watchPidfd", "kvmCapabilities"] as const;

/** Where `make -C native` puts the addon. */
export const NATIVE_ADDON_PATH = join(dirname(fileURLToPath(import.meta.url)), "..", "build", "vdi_native.node");

type Loaded = { addon: Addon; reason: null } | { addon: null; reason: string };
let loaded: Loaded | undefined;

function load(): Loaded {
  if (!existsSync(NATIVE_ADDON_PATH)) {
    return { addon: null, reason: `the native addon is not built (${NATIVE_ADDON_PATH}; make -C native)` };
  }
  let mod: Record<string, unknown>;
  try {
    mod = createRequire(import.meta.url)(NATIVE_ADDON_PATH) as Record<string, unknown>;
  } catch (err) {
    return { addon: null, reason: `the native addon failed to load (${NATIVE_ADDON_PATH}): ${(err as Error).message}` };
  }
  // A build from older sources loads fine and fails later, at the first call it lacks.
  const missing = FUNCTIONS.filter((name) => typeof mod[name] !== "function");
  if (missing.length > 0) {
    return { addon: null, reason: `the native addon is stale, it lacks ${missing.join(", ")} (make -C native)` };
  }
  return { addon: mod as unknown as Addon, reason: null };
}

/** The addon, loaded on first use; null when it is not built or does not load (see nativeAddonReason). */
export function nativeAddon(): Addon | null {
  loaded ??= load();
  return loaded.addon;
}

/** Why nativeAddon() is null, in words for a log line; null when the addon is loaded. */
export function nativeAddonReason(): string | null {
  loaded ??= load();
  return loaded.reason;
}
