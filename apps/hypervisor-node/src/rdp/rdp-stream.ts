// The console gateway's RDP row (docs/rdp.md): for each admitted session the node starts one
// vdi-rdp-bridge (native/rdp-bridge), which logs into the guest's RDP server with the VM's
// per-VM credentials (only this node holds them: handed over on the bridge's stdin, never argv)
// and re-serves the session as RFB on a unix socket in the VM's folder. The gateway relays that
// socket like a VNC display, so noVNC, tokens and the stream's watch are the same as VNC's.
// The guest's RDP server is hostile: the bridge runs as the VM's own engine user (it reaches no
// other VM's files), one process per session; its crash ends that console only, said as such.
import { spawn, type ChildProcess } from "node:child_process";
import { randomBytes } from "node:crypto";
import { chownSync, existsSync, mkdirSync, rmSync } from "node:fs";
import { join } from "node:path";
import type { StreamProtocol, StreamTarget } from "../gateway/stream-protocol.ts";
import { RfbRelayWatch } from "../rfb/rfb-relay-watch.ts";
import type { EngineUser } from "../lib/engine-users.ts";

/** Where a running desktop VM's RDP server is reached from this node, and as whom. */
export interface RdpEndpoint {
  /** The loopback forward of the guest's RDP port. */
  host: string;
  port: number;
  user: string;
  password: string;
  /** The VM's folder: the bridge's socket goes there. */
  dir: string;
  /** The VM's engine user, whom the bridge runs as (null: the agent's own). */
  runAs: EngineUser | null;
}

export interface RdpStreamOptions {
  /** The bridge binary (native/build/vdi-rdp-bridge); null when this node has none (why in `missing`). */
  bridge: string | null;
  /** Why there is no bridge here (said to a user who asks for RDP). */
  missing?: string;
  /** The RDP endpoint of a running desktop VM, or why there is none. */
  endpointOf(vmId: string): RdpEndpoint | string;
  /** How long the bridge may take to log in (xrdp starts a session under TCG in a few seconds). */
  loginTimeoutMs?: number;
  /** The desktop size asked for at login (the browser's own size follows with a resize). */
  width?: number;
  height?: number;
}

/** What the bridge said last, kept small: the guest controls part of it. */
class TailLines {
  private lines: string[] = [];
  private partial = "";
  constructor(private readonly keep = 20, private readonly maxLine = 300) {}
  push(chunk: Buffer): string[] {
    const text = this.partial + chunk.toString("utf8");
    const parts = text.split("\n");
    this.partial = parts.pop()!.slice(-this.maxLine);
    const got = parts.map((l) => l.slice(0, this.maxLine));
    this.lines.push(...got);
    if (this.lines.length > this.keep) this.lines.splice(0, this.lines.length - this.keep);
    return got;
  }
  /** The bridge's own last message ("rdp-bridge: ..."), without its prefix. */
  lastOwn(): string | null {
    for (let i = this.lines.length - 1; i >= 0; i--) {
      const m = /^rdp-bridge: (.*)$/.exec(this.lines[i]!);
      if (m) return m[1]!;
    }
    return null;
  }
}

/** Why a bridge's exit ended the session, in the user's words. */
function exitReason(code: number | null, signal: NodeJS.Signals | null, said: string | null, stoppedByUs = false): string {
  if (signal && stoppedByUs) return "the RDP session was closed";
  if (signal) return `the RDP bridge crashed (${signal}); the VM is unaffected: reconnect`;
  if (code === 4) return `the desktop session ended${said ? `: ${said}` : ""}`;
  if (code === 3) return `cannot log into the desktop${said ? `: ${said}` : ""}`;
  if (code === 0) return "the RDP session closed";
  return `the RDP bridge failed (exit ${code})${said ? `: ${said}` : ""}`;
}

export function rdpStream(opts: RdpStreamOptions): StreamProtocol {
  const loginTimeoutMs = opts.loginTimeoutMs ?? 30_000;
  /** The bridges serving now, per VM, newest last: a shadow joins the user's (the bridge takes viewers). */
  const live = new Map<string, Array<{ sock: string; ended: Promise<string> }>>();
  return {
    name: "RDP",
    unavailable(vmId) {
      if (!opts.bridge) return opts.missing ?? "this node has no RDP bridge";
      const ep = opts.endpointOf(vmId);
      return typeof ep === "string" ? ep : null;
    },
    open(vmId, log, how) {
      if (how?.attach) {
        const serving = live.get(vmId)?.at(-1);
        if (!serving) return Promise.reject(new Error("the user has no RDP session open on this desktop now"));
        return Promise.resolve({ path: serving.sock, release: () => undefined, ended: serving.ended });
      }
      const bridge = opts.bridge;
      const ep = opts.endpointOf(vmId);
      if (!bridge) return Promise.reject(new Error(opts.missing ?? "this node has no RDP bridge"));
      if (typeof ep === "string") return Promise.reject(new Error(ep));
      const sock = join(ep.dir, `rdp-${randomBytes(6).toString("hex")}.sock`);
      const args = ["--host", ep.host, "--port", String(ep.port), "--user", ep.user, "--listen", sock,
        "--width", String(opts.width ?? 1280), "--height", String(opts.height ?? 800)];
      // FreeRDP wants a home for its (unused) certificate store: one in the VM's folder, the VM user's.
      const home = join(ep.dir, "rdp-home");
      mkdirSync(home, { recursive: true, mode: 0o700 });
      if (ep.runAs) chownSync(home, ep.runAs.uid, ep.runAs.gid);
      const child: ChildProcess = spawn(bridge, args, {
        stdio: ["pipe", "ignore", "pipe"],
        ...(ep.runAs ? { uid: ep.runAs.uid, gid: ep.runAs.gid } : {}),
        env: { PATH: "/usr/bin:/bin", HOME: home, WLOG_LEVEL: "WARN", WLOG_APPENDER: "CONSOLE" },
      });
      const tail = new TailLines();
      let exited: { code: number | null; signal: NodeJS.Signals | null } | null = null;
      const exit = new Promise<void>((resolve) => {
        child.once("exit", (code, signal) => { exited = { code, signal }; rmSync(sock, { force: true }); resolve(); });
        child.once("error", (e) => { exited = { code: -1, signal: null }; tail.push(Buffer.from(`rdp-bridge: ${e.message}\n`)); resolve(); });
      });
      child.stdin!.on("error", () => undefined);  // a bridge that died early
      child.stdin!.end(`${ep.password}\n`);
      let stoppedByUs = false;
      const stop = () => {
        if (exited) return;
        stoppedByUs = true;
        child.kill("SIGTERM");
        const t = setTimeout(() => { if (!exited) child.kill("SIGKILL"); }, 2_000);
        t.unref();
      };
      return new Promise<StreamTarget>((resolve, reject) => {
        const timer = setTimeout(() => {
          stop();
          reject(new Error(`the desktop did not answer within ${Math.round(loginTimeoutMs / 1000)} s`));
        }, loginTimeoutMs);
        let ready = false;
        child.stderr!.on("data", (chunk: Buffer) => {
          for (const line of tail.push(chunk)) {
            if (!ready && line.startsWith("rdp-bridge: connected") && existsSync(sock)) {
              ready = true;
              clearTimeout(timer);
              log(`rdp of vm ${vmId}: ${line.slice("rdp-bridge: ".length)} (bridge pid ${child.pid})`);
              const ended = exit.then(() => exitReason(exited!.code, exited!.signal, tail.lastOwn(), stoppedByUs));
              const entry = { sock, ended };
              live.set(vmId, [...(live.get(vmId) ?? []), entry]);
              void exit.then(() => {
                const left = (live.get(vmId) ?? []).filter((e) => e !== entry);
                if (left.length) live.set(vmId, left); else live.delete(vmId);
              });
              resolve({ path: sock, release: stop, ended });
            }
          }
        });
        void exit.then(() => {
          if (ready || stoppedByUs) return;  // stopped after the login timeout: already said
          clearTimeout(timer);
          const why = exitReason(exited!.code, exited!.signal, tail.lastOwn());
          log(`rdp of vm ${vmId}: ${why}`);
          reject(new Error(why));
        });
      });
    },
    watch(vmId, events, policy) {
      // The bridge is an RFB server: the same watch as a VNC display's (ClientInit always shared).
      const watch: RfbRelayWatch = new RfbRelayWatch({ done: events.done, fail: events.fail }, policy?.input);
      void vmId;
      return {
        fromClient: (data) => watch.fromClient(data),
        takeForTarget: () => watch.takeForDisplay(),
        fromTarget: (chunk) => watch.fromServer(chunk),
        get settled() { return watch.settled; },
      };
    },
  };
}
