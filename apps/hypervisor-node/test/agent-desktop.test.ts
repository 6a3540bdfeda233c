// The Debian desktop template (scripts/images/debian-desktop) under a real agent and QEMU: the
// guest takes the identity the node hands it in fw_cfg, its console logs into Xfce by itself and
// the VNC console shows that graphical desktop, and its xrdp answers RDP with TLS on the node's
// loopback forward: a real FreeRDP client holding the per-VM credentials only the node has gets
// an Xfce session (seen inside the guest through the QEMU guest agent).
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { guestHostname } from "../src/engines/qemu/desktop.ts";
import { guestExec } from "./guest-agent.ts";
import { IMAGES, agentFixture, qemuSkipReason, rfbHandshake, startAgent, until } from "./helpers.ts";

const TEMPLATE = join(IMAGES, "debian-desktop", "template.json");
const skipReason = qemuSkipReason(TEMPLATE)
  ?? (spawnSync("xfreerdp", ["--version"]).status === null ? "xfreerdp is not installed (scripts/setup.sh --test installs freerdp2-x11)" : null)
  ?? (spawnSync("Xvfb", ["-help"]).status === null ? "Xvfb is not installed (scripts/setup.sh --test installs xvfb)" : null);
if (skipReason) console.warn(`[skip] Debian desktop tests: ${skipReason}`);

describe.skipIf(skipReason !== null)("the Debian desktop template", () => {
  const f = agentFixture(TEMPLATE, "vdi-desk-");
  let vmId = "";
  let dir = "";
  let xvfb: ChildProcess | null = null;
  const display = `:${90 + (process.pid % 50)}`;
  const serial = () => (existsSync(join(dir, "serial.log")) ? readFileSync(join(dir, "serial.log"), "utf8") : "");
  const name = "desk-one";

  beforeAll(async () => {
    const c = f.api.caller(f.alice);
    f.agent = startAgent(f.server.url, f.dataDir);
    await until("node up", async () => (await c.node.list()).find((n) => n.up && n.engines.qemu?.available));
    const t0 = Date.now();
    ({ vmId } = await c.vm.create({ templateId: f.templateId, name }));
    dir = join(f.dataDir, "vms", vmId);
    await until("desktop running", async () => (await c.vm.get({ vmId })).state === "running", 120_000);
    await until("Xfce session and xrdp up", () => serial().includes("VDI-DESKTOP-SESSION") && serial().includes("VDI-DESKTOP-RDP"), 420_000);
    const up = (tag: string) => /VDI-DESKTOP-\w+ \S+ ([\d.]+)/.exec(serial().split("\n").find((l) => l.includes(tag)) ?? "")?.[1];
    console.log(`debian-desktop: create → usable ${Date.now() - t0} ms (guest uptime at Xfce session ${up("SESSION")} s, at xrdp ${up("RDP")} s)`);
    xvfb = spawn("Xvfb", [display, "-screen", "0", "1024x768x24", "-nolisten", "tcp"], { stdio: "ignore" });
  }, 600_000);
  afterAll(() => { xvfb?.kill(); });

  it("takes the hostname the node hands it in fw_cfg; the identity and credentials stay the agent's (0600)", () => {
    expect(serial()).toContain(`VDI-DESKTOP-SESSION ${guestHostname({ id: vmId, name })} `);
    for (const file of ["identity.cfg", "desktop-credentials.json"]) {
      const st = statSync(join(dir, file));
      expect([st.uid, st.mode & 0o777]).toEqual([0, 0o600]);
    }
  });

  it("shows the graphical desktop on the VNC console (not the text console)", async () => {
    const c = await rfbHandshake((await f.api.caller(f.alice).console.open({ vmId, protocol: "vnc" })).url);
    c.ws.close();
    // VGA text mode is 720×400; Xorg's modesetting driver on QEMU's std VGA takes 1024×768 or more.
    expect(c.width).toBeGreaterThanOrEqual(1024);
    expect(c.height).toBeGreaterThanOrEqual(768);
  });

  it("logs a real FreeRDP client into an Xfce session over TLS on the loopback forward, with the per-VM credentials", async () => {
    const port = Number(readFileSync(join(dir, "rdp-port"), "utf8"));
    expect(port).toBeGreaterThan(1024);
    const creds = JSON.parse(readFileSync(join(dir, "desktop-credentials.json"), "utf8")) as { user: string; password: string };
    expect(creds.password).toMatch(/^[A-Za-z0-9_-]{32}$/);
    // The forward is on the loopback only, never on the host's network.
    const listening = spawnSync("ss", ["-Hltn", `sport = :${port}`], { encoding: "utf8" }).stdout;
    expect(listening).toContain(`127.0.0.1:${port}`);
    expect(listening).not.toContain(`0.0.0.0:${port}`);
    // xrdp runs the session's X server (xorgxrdp) as the desktop user on display :10.
    const sessions = () => guestExec(join(dir, "qga.sock"), "/usr/bin/pgrep", ["-u", creds.user, "-f", "Xorg :10"]);
    expect((await sessions()).exitcode).not.toBe(0);
    let log = "";
    const client = spawn("xfreerdp", [`/v:127.0.0.1:${port}`, `/u:${creds.user}`, `/p:${creds.password}`, "/cert:ignore", "/sec:tls", "/size:1024x768", "/log-level:INFO"], {
      env: { ...process.env, DISPLAY: display }, stdio: ["ignore", "pipe", "pipe"],
    });
    client.stdout!.on("data", (d: Buffer) => (log += d.toString()));
    client.stderr!.on("data", (d: Buffer) => (log += d.toString()));
    try {
      await until("an Xfce session of the desktop user over RDP", async () => client.exitCode === null && (await sessions()).exitcode === 0, 180_000)
        .catch((e: Error) => { throw new Error(`${e.message}; xfreerdp said: ${log.slice(-800)}`); });
      expect(log).not.toMatch(/Negotiated RDP security/);
    } finally {
      client.kill();
    }
  }, 240_000);

  describe("RDP through the node's gateway (the bridge re-serves the session as RFB)", () => {
    const qga = () => join(dir, "qga.sock");
    const sh = (cmd: string) => guestExec(qga(), "/bin/sh", ["-c", cmd]);
    const bridgePids = () => spawnSync("pgrep", ["-f", `vdi-rdp-bridge .*${dir}`], { encoding: "utf8" }).stdout.trim().split("\n").filter(Boolean).map(Number);
    let session: Awaited<ReturnType<typeof rfbHandshake>> | null = null;
    let reader: ReturnType<typeof frameReader> | null = null;
    afterAll(() => session?.ws.close());

    it("is the desktop's default console; a VNC token does not open it", async () => {
      const c = f.api.caller(f.alice);
      const vnc = await c.console.open({ vmId, protocol: "vnc" });
      await expect(rfbHandshake(vnc.url.replace("/console?", "/rdp?"))).rejects.toThrow(/closed 4401 not a RDP token/);
      const rdp = await c.console.open({ vmId });
      expect(rdp.protocol).toBe("rdp");
      expect(new URL(rdp.url).pathname).toBe("/rdp");
    });

    it("shows the logged-in Xfce session, takes typed keys as scancodes (German layout too), and the session stays", async () => {
      const t0 = Date.now();
      session = await rfbHandshake((await f.api.caller(f.alice).console.open({ vmId })).url);
      console.log(`rdp through the gateway: token → RFB ServerInit ${Date.now() - t0} ms (${session.width}×${session.height})`);
      expect([session.width, session.height]).toEqual([1280, 800]);
      // The bridge runs as the VM's own engine user (QEMU's), never as root.
      const [pid] = bridgePids();
      const uidOf = (p: number) => Number(/^Uid:\s+(\d+)/m.exec(readFileSync(`/proc/${p}/status`, "utf8"))![1]);
      expect(uidOf(pid!)).toBe(uidOf(Number(readFileSync(join(dir, "engine.pid"), "utf8"))));
      expect(uidOf(pid!)).not.toBe(0);
      const frames = frameReader(session.ws);
      // The screen is Xfce's desktop (panel, wallpaper, icons), not a blank or one-colour screen.
      await until("a drawn desktop", async () => (await frames.full(session!.width, session!.height)).colours > 64, 120_000);
      // Ctrl-Alt-T opens Xfce's terminal in the RDP session; what is typed there runs in the guest.
      session.ws.send(keys([[0xffe3, 0xffe9, 0x74]]));
      await until("a terminal in the RDP session", async () => (await sh("pgrep -u user -x xfce4-terminal")).exitcode === 0, 60_000);
      // Its window takes the focus a while after its process starts (seconds, under TCG): what is
      // typed before that goes elsewhere, so the (idempotent) command is typed again until it ran.
      await new Promise((r) => setTimeout(r, 3_000));
      await typedUntil(session.ws, "echo typed-over-rdp > /tmp/rdp-typed\n", "the typed command's file", async () => (await sh("grep -qx typed-over-rdp /tmp/rdp-typed")).exitcode === 0);
      // A German layout in the guest: the key that is Z on a US keyboard gives Y (the guest's layout decides).
      expect((await sh("DISPLAY=:10 XAUTHORITY=/home/user/.Xauthority setxkbmap de")).exitcode).toBe(0);
      await typedUntil(session.ws, "touch zy\n", "the German layout's file", async () => (await sh("test -e /home/user/yz && ! test -e /home/user/zy")).exitcode === 0);
      // The RDP session is still there (xrdp's Xorg :10 and Xfce in it), and so is the console.
      expect((await sh("pgrep -u user -f 'Xorg :10' && pgrep -u user -c xfce4-session | grep -qx 2")).exitcode).toBe(0);
      expect(session.ws.readyState).toBe(session.ws.OPEN);
      reader = frames;
    }, 300_000);

    it("carries the clipboard both ways over cliprdr, and gives the desktop the size the client asks for", async () => {
      const { ws } = session!;
      const x11 = "DISPLAY=:10 XAUTHORITY=/home/user/.Xauthority";
      // Browser → guest: plain ClientCutText is Latin-1 ("Grüße" fits); the guest's X clipboard has it as UTF-8.
      const text = Buffer.from("Grüße über RDP", "latin1");
      const cut = Buffer.alloc(8); cut[0] = 6; cut.writeUInt32BE(text.length, 4);
      ws.send(Buffer.concat([cut, text]));
      await until("the guest's clipboard", async () => (await sh(`${x11} xsel -b -o`)).stdout === "Grüße über RDP", 30_000);
      // Guest → browser: what is copied in the session arrives as ServerCutText.
      expect((await sh(`printf 'vom Gast: Ärger' | ${x11} xsel -b -i >/dev/null 2>&1`)).exitcode).toBe(0);
      await until("the guest's text at the client", async () => { await reader!.pump(1_000, 1280, 800); return reader!.seen.cutText.includes("vom Gast: Ärger"); }, 30_000);
      // Resize: with ExtendedDesktopSize the client may ask for a size; the desktop takes it.
      reader!.encodings([0, -308, -258]);
      await until("ExtendedDesktopSize from the server", async () => { await reader!.pump(500, 1280, 800); return reader!.seen.sizes.length > 0; }, 15_000);
      const ask = Buffer.alloc(24);
      ask[0] = 251; ask.writeUInt16BE(1024, 2); ask.writeUInt16BE(700, 4); ask[6] = 1; ask.writeUInt16BE(1024, 12); ask.writeUInt16BE(700, 14);
      const t0 = Date.now();
      ws.send(ask);
      await until("the client's size answered", async () => { await reader!.pump(500, 1024, 700); return reader!.seen.sizes.find((z) => z.reason === 1); }, 30_000);
      console.log(`rdp resize 1280×800 → 1024×700: answered in ${Date.now() - t0} ms`);
      expect(reader!.seen.sizes.find((z) => z.reason === 1)).toEqual({ reason: 1, status: 0, width: 1024, height: 700 });
      expect((await sh(`${x11} xrandr --current | head -1`)).stdout).toMatch(/current 1024 x 700/);
    }, 120_000);

    it("a kill -9 of the bridge ends that console with the reason; the VM runs on and a reconnect gets the same session", async () => {
      const ws = session!.ws;
      const closed = new Promise<{ code: number; reason: string }>((resolve) => ws.on("close", (code, reason) => resolve({ code, reason: reason.toString() })));
      for (const p of bridgePids()) process.kill(p, "SIGKILL");
      const { code, reason } = await closed;
      session = null;
      expect(code).toBe(4410);
      expect(reason).toMatch(/RDP bridge crashed \(SIGKILL\)/);
      expect((await f.api.caller(f.alice).vm.get({ vmId })).state).toBe("running");
      const again = await rfbHandshake((await f.api.caller(f.alice).console.open({ vmId })).url);
      try {
        // xrdp hands the reconnecting bridge the session it had: still one RDP session, with its terminal.
        expect((await sh("pgrep -u user -c -f 'Xorg :10' | grep -qx 1 && pgrep -u user -x xfce4-terminal")).exitcode).toBe(0);
        expect(bridgePids()).toHaveLength(1);
      } finally {
        again.ws.close();
      }
      await until("the bridge gone with its console", () => bridgePids().length === 0, 10_000);
    }, 120_000);
  });

  it("shuts down gracefully: the ACPI power button, and the guest's journal shows a clean shutdown", async () => {
    const c = f.api.caller(f.alice);
    const t0 = Date.now();
    await c.vm.stop({ vmId });
    await until("the VM stopped", async () => (await c.vm.get({ vmId })).state === "stopped", 150_000);
    console.log(`debian-desktop: shut down in ${Date.now() - t0} ms`);
    // The kernel's last word on a power off the guest made itself (it prints at every log level).
    expect(serial()).toContain("reboot: Power down");
    // The guest's own journal, read from its disk: systemd went through its shutdown targets.
    const work = mkdtempSync(join(tmpdir(), "vdi-journal-"));
    try {
      const raw = join(work, "disk.raw");
      const active = readdirSync(dir).filter((n) => /^disk.*\.qcow2$/.test(n)).map((n) => join(dir, n)).sort((a, b) => statSync(b).mtimeMs - statSync(a).mtimeMs)[0]!;
      expect(spawnSync("qemu-img", ["convert", "-O", "raw", active, raw]).status).toBe(0);
      expect(spawnSync("debugfs", ["-R", `rdump /var/log/journal ${work}`, raw], { stdio: "ignore" }).status).toBe(0);
      const journal = spawnSync("journalctl", ["-D", join(work, "journal"), "-o", "cat", "--no-pager"], { encoding: "utf8", maxBuffer: 64 << 20 }).stdout;
      const lastBoot = journal.slice(journal.lastIndexOf("vdi-identity: host"));
      expect(lastBoot).toMatch(/Power key pressed|Powering off/);
      expect(lastBoot).toMatch(/Reached target.*(System Power Off|Power-Off|Final Step)|Journal stopped/);
    } finally {
      rmSync(work, { recursive: true, force: true });
    }
  }, 240_000);
});

/** RFB KeyEvents: each group is pressed in order, then released in reverse (a chord). */
function keys(groups: number[][]): Buffer {
  const out: Buffer[] = [];
  const ev = (keysym: number, down: boolean) => {
    const b = Buffer.alloc(8);
    b[0] = 4; b[1] = down ? 1 : 0; b.writeUInt32BE(keysym, 4);
    out.push(b);
  };
  for (const g of groups) {
    for (const k of g) ev(k, true);
    for (const k of [...g].reverse()) ev(k, false);
  }
  return Buffer.concat(out);
}

/** Types `text` (US keysyms; the bridge sends their keys' scancodes) slowly enough for a TCG guest. */
async function typeSlowly(ws: { send(b: Buffer): void }, text: string) {
  const shifted = '~!@#$%^&*()_+{}|:"<>?';
  for (const ch of text) {
    const ks = ch === "\n" ? 0xff0d : ch.charCodeAt(0);
    ws.send(keys([/[A-Z]/.test(ch) || shifted.includes(ch) ? [0xffe1, ks] : [ks]]));
    await new Promise((r) => setTimeout(r, 40));
  }
}

/** Types `text` and waits for `done`, typing it again every 15 s (90 s in all). */
async function typedUntil(ws: { send(b: Buffer): void }, text: string, what: string, done: () => Promise<boolean>) {
  let typedAt = 0, times = 0;
  const t0 = Date.now();
  await until(what, async () => {
    if (Date.now() - typedAt > 15_000) { await typeSlowly(ws, text); typedAt = Date.now(); times += 1; }
    return done();
  }, 90_000);
  if (times > 1) console.log(`${what}: typed ${times} times, ${Date.now() - t0} ms`);
}

/**
 * Reads an RFB stream after ServerInit (32 bpp as the server offers): whole-screen Raw updates,
 * the size notes (DesktopSize, ExtendedDesktopSize) and the server's cut text, as they come.
 */
function frameReader(ws: import("ws").WebSocket) {
  let buf = Buffer.alloc(0);
  let wake: (() => void) | null = null;
  ws.on("message", (d: Buffer) => { buf = Buffer.concat([buf, d]); wake?.(); });
  const need = async (n: number) => {
    while (buf.length < n) {
      if (ws.readyState > ws.OPEN) throw new Error("the console closed");
      await new Promise<void>((r) => { wake = r; setTimeout(r, 1_000); });
    }
  };
  const take = async (n: number) => { await need(n); const b = buf.subarray(0, n); buf = buf.subarray(n); return b; };
  const seen = {
    /** Plain ServerCutText, Latin-1. */
    cutText: [] as string[],
    /** ExtendedDesktopSize notes: why (0 server, 1 this client), status, size. */
    sizes: [] as { reason: number; status: number; width: number; height: number }[],
    /** Whole-screen updates, and the distinct colours of the last one. */
    updates: 0,
    colours: 0,
  };
  let encodingsSent = false;
  const whole = { width: 0, height: 0 };
  /** Reads one server message; the colour count when it was an update with pixels. */
  const message = async (): Promise<number | null> => {
    const type = (await take(1))[0];
    if (type === 2) return null;  // Bell
    if (type === 3) {  // ServerCutText
      const len = (await take(7)).readInt32BE(3);
      const body = await take(Math.abs(len));
      if (len >= 0) seen.cutText.push(body.toString("latin1"));
      return null;
    }
    if (type !== 0) throw new Error(`unexpected RFB message ${type}`);
    const n = (await take(3)).readUInt16BE(1);
    let colours: number | null = null;
    for (let i = 0; i < n; i++) {
      const r = await take(12);
      const x = r.readUInt16BE(0), y = r.readUInt16BE(2), w = r.readUInt16BE(4), h = r.readUInt16BE(6), enc = r.readInt32BE(8);
      if (enc === -308) {
        const screens = (await take(4))[0]!;
        await take(16 * screens);
        seen.sizes.push({ reason: x, status: y, width: w, height: h });
        continue;
      }
      if (enc !== 0) continue;  // DesktopSize, QEMU keys: no payload
      const px = await take(w * h * 4);
      if (w !== whole.width || h !== whole.height) continue;  // a part of the screen
      const set = new Set<number>();
      for (let o = 0; o < px.length; o += 4 * 7) set.add(px.readUInt32LE(o) & 0xffffff);
      colours = set.size;
    }
    return colours;
  };
  // One reader for the whole stream, in the background; the methods only ask and wait.
  void (async () => {
    for (;;) {
      const colours = await message();
      if (colours !== null) { seen.colours = colours; seen.updates += 1; }
    }
  })().catch(() => undefined);
  const request = (incremental: boolean, width: number, height: number) => {
    const req = Buffer.alloc(10);
    req[0] = 3; req[1] = incremental ? 1 : 0; req.writeUInt16BE(width, 6); req.writeUInt16BE(height, 8);
    ws.send(req);
  };
  return {
    seen,
    /** SetEncodings: Raw, and the pseudo-encodings given (e.g. -308 ExtendedDesktopSize). */
    encodings(list: number[]) {
      const b = Buffer.alloc(4 + 4 * list.length);
      b[0] = 2; b.writeUInt16BE(list.length, 2);
      list.forEach((e, i) => b.writeInt32BE(e, 4 + 4 * i));
      ws.send(b);
      encodingsSent = true;
    },
    /** Asks for the whole screen; how many distinct colours it has. */
    async full(width: number, height: number): Promise<{ colours: number }> {
      if (!encodingsSent) this.encodings([0]);
      const before = seen.updates;
      Object.assign(whole, { width, height });
      request(false, width, height);
      await until("a full update", () => seen.updates > before, 60_000);
      return { colours: seen.colours };
    },
    /** Keeps asking for updates for `ms` (size notes and cut text land in `seen`). */
    async pump(ms: number, width: number, height: number) {
      for (const end = Date.now() + ms; Date.now() < end;) {
        request(true, width, height);
        await new Promise((r) => setTimeout(r, 250));
      }
    },
  };
}
