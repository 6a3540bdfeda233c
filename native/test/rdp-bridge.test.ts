// The RDP bridge (native/rdp-bridge) against a real RDP server started here: FreeRDP's
// freerdp-shadow on an Xvfb screen, with TLS and with NLA (an NTLM SAM file). It logs in and
// re-serves the screen as RFB (pixels checked against a colour painted on the X screen), says
// clearly when the password is wrong or the server is down, and a kill -9 of it, or a client
// that sends garbage, ends that bridge alone: the server takes the next one.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import { existsSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { connect, createServer, type Socket } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { rdpBridgePath } from "../src/index.ts";

const bridge = rdpBridgePath();
const has = (cmd: string, arg = "--help") => spawnSync(cmd, [arg]).error === undefined;
const skip = !existsSync(bridge) ? `the RDP bridge is not built (${bridge}; needs freerdp2-dev)`
  : !has("freerdp-shadow-cli") ? "freerdp-shadow-cli is not installed (scripts/setup.sh --test installs freerdp2-shadow-x11)"
  : !has("Xvfb", "-help") ? "Xvfb is not installed (scripts/setup.sh --test installs xvfb)"
  : !has("xsetroot", "-help") ? "xsetroot is not installed (scripts/setup.sh --test installs x11-xserver-utils)"
  : !has("winpr-hash", "-u") ? "winpr-hash is not installed (comes with freerdp2-shadow-x11)" : null;
if (skip) console.warn(`[skip] RDP bridge tests: ${skip}`);

const work = mkdtempSync(join(tmpdir(), "vdi-bridge-"));
const display = `:${150 + (process.pid % 50)}`;
const USER = "tester", PASSWORD = "S3cret-pw";

const paint = (colour: string) => spawnSync("xsetroot", ["-solid", colour], { env: { ...process.env, DISPLAY: display } }).status === 0;

function freePort(): Promise<number> {
  return new Promise((resolve) => { const s = createServer().listen(0, "127.0.0.1", () => { const p = (s.address() as { port: number }).port; s.close(() => resolve(p)); }); });
}
async function waitFor<T>(what: string, f: () => T | null | undefined | false, ms = 20_000): Promise<T> {
  for (const end = Date.now() + ms; ;) {
    const v = f();
    if (v) return v;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}
/** A freerdp-shadow server on the Xvfb screen; answers once its port takes connections. */
async function shadow(args: string[]): Promise<{ port: number; proc: ChildProcess; log: () => string }> {
  const port = await freePort();
  let log = "";
  const proc = spawn("freerdp-shadow-cli", [`/port:${port}`, ...args], { env: { ...process.env, DISPLAY: display }, stdio: ["ignore", "pipe", "pipe"] });
  proc.stdout!.on("data", (d: Buffer) => { log += d; });
  proc.stderr!.on("data", (d: Buffer) => { log += d; });
  await waitFor("freerdp-shadow listening", () => spawnSync("ss", ["-ltnH", `sport = :${port}`], { encoding: "utf8" }).stdout.includes(String(port)));
  return { port, proc, log: () => log };
}

interface Bridge { proc: ChildProcess; sock: string; exit: Promise<{ code: number | null; signal: string | null }>; stderr: () => string }
function startBridge(port: number, password: string, name: string): Bridge {
  const sock = join(work, `${name}.sock`);
  let stderr = "";
  const proc = spawn(bridge, ["--host", "127.0.0.1", "--port", String(port), "--user", USER, "--listen", sock, "--width", "1024", "--height", "768"], { stdio: ["pipe", "ignore", "pipe"] });
  proc.stderr!.on("data", (d: Buffer) => { stderr += d; });
  proc.stdin!.end(`${password}\n`);
  const exit = new Promise<{ code: number | null; signal: string | null }>((resolve) => proc.once("exit", (code, signal) => resolve({ code, signal })));
  return { proc, sock, exit, stderr: () => stderr };
}

/**
 * RFB 3.8, security None, then full Raw updates until most of the screen has `want` (10 s; the
 * shadow server's first frames can be black before its first capture): size and that colour.
 */
async function rfbFrame(path: string, want = 0x3366cc): Promise<{ s: Socket; width: number; height: number; colour: number; share: number }> {
  const s = connect(path);
  let buf = Buffer.alloc(0);
  let wake: (() => void) | null = null;
  s.on("data", (d: Buffer) => { buf = Buffer.concat([buf, d]); wake?.(); });
  const take = async (n: number) => {
    const end = Date.now() + 20_000;
    while (buf.length < n) {
      if (Date.now() > end || s.destroyed) throw new Error("RFB: the bridge sent too little");
      await new Promise<void>((r) => { wake = r; setTimeout(r, 200); });
    }
    const b = buf.subarray(0, n); buf = buf.subarray(n); return b;
  };
  await new Promise((res, rej) => s.once("connect", res).once("error", rej));
  expect((await take(12)).toString()).toBe("RFB 003.008\n");
  s.write("RFB 003.008\n");
  expect([...(await take(2))]).toEqual([1, 1]);  // one security type: None
  s.write(Buffer.from([1]));
  expect((await take(4)).readUInt32BE(0)).toBe(0);
  s.write(Buffer.from([1]));
  const init = await take(24);
  const width = init.readUInt16BE(0), height = init.readUInt16BE(2);
  await take(init.readUInt32BE(20));
  s.write(Buffer.from([2, 0, 0, 1, 0, 0, 0, 0]));  // SetEncodings: Raw
  const req = Buffer.alloc(10); req[0] = 3; req.writeUInt16BE(width, 6); req.writeUInt16BE(height, 8);
  s.write(req);
  const started = Date.now();
  for (;;) {
    const type = (await take(1))[0];
    if (type === 3) { await take((await take(7)).readUInt32BE(3)); continue; }
    expect(type).toBe(0);
    const n = (await take(3)).readUInt16BE(1);
    let px: Buffer | null = null;
    for (let i = 0; i < n; i++) {
      const r = await take(12);
      const w = r.readUInt16BE(4), h = r.readUInt16BE(6);
      if (r.readInt32BE(8) !== 0) continue;
      const p = await take(w * h * 4);
      if (w === width && h === height) px = p;
    }
    if (!px) continue;
    const counts = new Map<number, number>();
    for (let o = 0; o < px.length; o += 4) { const c = px.readUInt32LE(o) & 0xffffff; counts.set(c, (counts.get(c) ?? 0) + 1); }
    const [colour, count] = [...counts.entries()].sort((a, b) => b[1] - a[1])[0]!;
    if (colour !== want && Date.now() - started < 10_000) {
      // freerdp-shadow captures what X reports as damaged: paint the root again.
      paint(Date.now() % 2 ? "#3366cd" : "#3366cc");
      await new Promise((r) => setTimeout(r, 300));
      paint("#3366cc");
      await new Promise((r) => setTimeout(r, 300));
      s.write(req);
      continue;
    }
    return { s, width, height, colour, share: count / (width * height) };
  }
}

describe.skipIf(skip !== null)("the RDP bridge against freerdp-shadow on Xvfb", () => {
  let xvfb: ChildProcess;
  const sam = join(work, "sam");
  beforeAll(async () => {
    xvfb = spawn("Xvfb", [display, "-screen", "0", "800x600x24", "-nolisten", "tcp"], { stdio: "ignore" });
    await waitFor("Xvfb", () => paint("#3366cc"));
    const line = spawnSync("winpr-hash", ["-u", USER, "-p", PASSWORD, "-f", "sam"], { encoding: "utf8" }).stdout.trim();
    expect(line).toMatch(new RegExp(`^${USER}:::[0-9a-f]{32}:::$`));
    writeFileSync(sam, `${line}\n`);
  });
  afterAll(() => { xvfb?.kill(); rmSync(work, { recursive: true, force: true }); });

  it("logs in with TLS and serves the X screen as RFB: its size and its colour", async () => {
    const server = await shadow(["-auth", "/sec:tls"]);
    try {
      const t0 = Date.now();
      const b = startBridge(server.port, PASSWORD, "tls");
      await waitFor("the bridge's socket", () => existsSync(b.sock) || b.proc.exitCode !== null);
      const f = await rfbFrame(b.sock);
      console.log(`rdp-bridge → freerdp-shadow (TLS): first full frame ${Date.now() - t0} ms`);
      expect([f.width, f.height]).toEqual([800, 600]);  // the shadow server's screen, not the size asked for
      expect(f.colour).toBe(0x3366cc);
      expect(f.share).toBeGreaterThan(0.9);
      f.s.destroy();
      expect((await b.exit).code).toBe(0);  // the client left: a clean end
    } finally {
      server.proc.kill();
    }
  }, 60_000);

  it("logs in with NLA (CredSSP/NTLM); a wrong password is refused in words; a server that is down is told apart", async () => {
    const server = await shadow(["+auth", "/sec:nla", `/sam-file:${sam}`]);
    try {
      const good = startBridge(server.port, PASSWORD, "nla");
      await waitFor("the bridge's socket", () => existsSync(good.sock) || good.proc.exitCode !== null);
      const f = await rfbFrame(good.sock);
      expect(f.colour).toBe(0x3366cc);
      f.s.destroy();
      await good.exit;

      const bad = startBridge(server.port, "not-the-password", "nla-bad");
      expect((await bad.exit).code).toBe(3);
      expect(bad.stderr()).toMatch(/rdp-bridge: 127\.0\.0\.1:\d+ refused the credentials of tester \(NLA\)/);
      expect(existsSync(bad.sock)).toBe(false);
    } finally {
      server.proc.kill();
    }
    const down = startBridge(await freePort(), PASSWORD, "down");
    expect((await down.exit).code).toBe(3);
    expect(down.stderr()).toMatch(/rdp-bridge: the RDP server at 127\.0\.0\.1:\d+ does not answer: Connection refused/);
  }, 60_000);

  it("takes viewers of the same session on its socket (a helpdesk shadow): the same screen; a viewer leaving ends nothing; the session's client leaving ends all", async () => {
    const server = await shadow(["-auth", "/sec:tls"]);
    try {
      const b = startBridge(server.port, PASSWORD, "viewers");
      await waitFor("the bridge's socket", () => existsSync(b.sock));
      const user = await rfbFrame(b.sock);
      const viewer = await rfbFrame(b.sock);
      expect([viewer.width, viewer.height, viewer.colour]).toEqual([user.width, user.height, 0x3366cc]);
      await waitFor("the bridge counts the viewer", () => b.stderr().includes("a viewer joined (1 watching)"));
      viewer.s.destroy();
      await waitFor("the bridge sees the viewer go", () => b.stderr().includes("a viewer left (0 watching)"));
      expect(b.proc.exitCode).toBeNull();
      // Four at most: a fifth is turned away at once.
      const four: Array<Awaited<ReturnType<typeof rfbFrame>>> = [];
      for (let i = 0; i < 4; i++) four.push(await rfbFrame(b.sock));
      const fifth = connect(b.sock);
      await waitFor("the fifth viewer turned away", () => fifth.destroyed || fifth.readableEnded, 10_000);
      user.s.destroy();
      expect((await b.exit).code).toBe(0);
      await waitFor("the viewers see the end", () => four.every((v) => v.s.destroyed || v.s.readableEnded));
      expect(existsSync(b.sock)).toBe(false);
    } finally {
      server.proc.kill();
    }
  }, 90_000);

  it("a kill -9 of a bridge mid-session, or a client sending garbage, ends that bridge alone; the server takes the next", async () => {
    const server = await shadow(["-auth", "/sec:tls"]);
    try {
      const first = startBridge(server.port, PASSWORD, "kill");
      await waitFor("the bridge's socket", () => existsSync(first.sock));
      const f = await rfbFrame(first.sock);
      first.proc.kill("SIGKILL");
      expect((await first.exit).signal).toBe("SIGKILL");
      await waitFor("the RFB client sees the end", () => f.s.destroyed || f.s.readableEnded);

      const second = startBridge(server.port, PASSWORD, "garbage");
      await waitFor("the bridge's socket", () => existsSync(second.sock));
      const g = await rfbFrame(second.sock);
      g.s.write(Buffer.from([0x99, 1, 2, 3, 4, 5, 6, 7]));  // no RFB client message has type 0x99
      expect((await second.exit).code).toBe(0);
      expect(second.stderr()).toMatch(/rdp-bridge: client: unknown client message 153/);

      const third = startBridge(server.port, PASSWORD, "third");
      await waitFor("the bridge's socket", () => existsSync(third.sock));
      expect((await rfbFrame(third.sock)).colour).toBe(0x3366cc);
      third.proc.kill();
      await third.exit;
      expect(server.proc.exitCode).toBeNull();  // the server ran through all of it
    } finally {
      server.proc.kill();
    }
  }, 90_000);
});
