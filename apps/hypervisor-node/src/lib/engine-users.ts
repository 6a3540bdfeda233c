// Each VM's engine runs as a user of its own: a uid (and gid) from a range no account uses, taken
// once per VM and kept in the VM's folder. The VM's folder is open to that user's group only
// (root:<gid>, mode 1770), so one VM's engine can reach neither another VM's disk nor its sockets;
// the sticky bit keeps the engine from replacing or removing what the agent wrote there (its state
// record, the active-layer file, the pid file), while it may still make files of its own (a new
// disk layer, a memory state). Only an agent that runs as root
// can hand out users; any other agent's engines run as the agent's own (already unprivileged) user.
import { chmodSync, chownSync, existsSync, mkdirSync, readdirSync, readFileSync, statSync } from "node:fs";
import { dirname, join } from "node:path";
import { writeFileAtomic } from "@vdi/durable-file";

export interface EngineUser { uid: number; gid: number }

/** Far above the ids Debian hands out (adduser stops at 59999; systemd's dynamic users at 65519). */
export const ENGINE_UID_BASE = 640_000;
export const ENGINE_UID_COUNT = 65_536;
const RECORD = "engine-user";

export class EngineUsers {
  private readonly taken = new Map<string, number>();
  private loaded = false;

  constructor(
    private readonly vmsDir: string,
    /** Null when engines cannot be given users of their own (the reason is in `reason`). */
    readonly enabled: boolean,
    readonly reason: string,
    private readonly base = ENGINE_UID_BASE,
    private readonly count = ENGINE_UID_COUNT,
  ) {}

  /**
   * Users for engines when the agent runs as root; otherwise none, and why. An engine that has
   * become its VM's user must still reach its folder: the agent's own folders (`dataDir` and its
   * `vms`) are made passable (o+x, never listable), and a folder above them that is not passable
   * keeps engines as root, said in the reason.
   */
  static forHost(dataDir: string): EngineUsers {
    const vmsDir = join(dataDir, "vms");
    const uid = process.getuid?.() ?? -1;
    if (uid !== 0) return new EngineUsers(vmsDir, false, `the agent runs as uid ${uid}, not root: engines run as that user`);
    mkdirSync(vmsDir, { recursive: true });
    for (const d of [dataDir, vmsDir]) {
      const st = statSync(d);
      if (st.uid === uid && (st.mode & 0o001) === 0) chmodSync(d, (st.mode & 0o7777) | 0o711);
    }
    for (let d = dataDir; ; d = dirname(d)) {
      const mode = statSync(d).mode;
      if ((mode & 0o001) === 0) return new EngineUsers(vmsDir, false, `${d} is closed to other users (mode ${(mode & 0o777).toString(8)}): engines run as root`);
      if (dirname(d) === d) break;
    }
    return new EngineUsers(vmsDir, true, `engines run as users of their own (uid ${ENGINE_UID_BASE}+): QEMU with -runas and -sandbox, vdi-vmm with --runas`);
  }

  private readRecord(vmDir: string): number | null {
    try {
      const n = Number.parseInt(readFileSync(join(vmDir, RECORD), "utf8").trim(), 10);
      return Number.isInteger(n) && n >= this.base && n < this.base + this.count ? n : null;
    } catch {
      return null;
    }
  }

  private load(): void {
    if (this.loaded) return;
    this.loaded = true;
    if (!existsSync(this.vmsDir)) return;
    for (const id of readdirSync(this.vmsDir)) {
      const uid = this.readRecord(join(this.vmsDir, id));
      if (uid !== null) this.taken.set(id, uid);
    }
  }

  /** The VM's engine user, taken (and recorded) on first use; null when users are not enabled. */
  forVm(vmDir: string): EngineUser | null {
    if (!this.enabled) return null;
    this.load();
    const id = vmDir.slice(vmDir.lastIndexOf("/") + 1);
    let uid = this.taken.get(id) ?? this.readRecord(vmDir);
    if (uid === null) {
      const inUse = new Set(this.taken.values());
      for (let n = this.base; n < this.base + this.count; n++) if (!inUse.has(n)) { uid = n; break; }
      if (uid === null) throw new Error(`no engine user left (${this.count} in use)`);
      writeFileAtomic(join(vmDir, RECORD), `${uid}\n`);
    }
    this.taken.set(id, uid);
    return { uid, gid: uid };
  }

  /** A VM that is gone gives its user back. */
  forget(vmDir: string): void {
    this.taken.delete(vmDir.slice(vmDir.lastIndexOf("/") + 1));
  }

  /** Gives a file the engine writes to the engine's user, readable by nobody else (0640, group the engine's). */
  static giveFile(file: string, user: EngineUser | null): void {
    if (!user) return;
    chownSync(file, user.uid, user.gid);
    chmodSync(file, 0o640);
  }

  /** Takes a file back from the engine (a layer a snapshot froze): the agent's, read-only to everyone. */
  static seal(file: string): void {
    chownSync(file, process.getuid?.() ?? 0, process.getgid?.() ?? 0);
    chmodSync(file, 0o644);
  }

  /** Takes a folder the engine wrote (a microVM's memory state) back: the agent's, read-only. */
  static sealTree(dir: string): void {
    chownSync(dir, process.getuid?.() ?? 0, process.getgid?.() ?? 0);
    chmodSync(dir, 0o755);
    for (const f of readdirSync(dir)) EngineUsers.seal(join(dir, f));
  }

  /** Opens `dir` to the engine's group, closed to everyone else, the agent's files kept (1770). */
  static own(dir: string, user: EngineUser | null): void {
    if (!user) return;
    chownSync(dir, process.getuid?.() ?? 0, user.gid);
    chmodSync(dir, 0o1770);
  }
}
