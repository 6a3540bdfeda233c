// The Debian desktop template (scripts/images/debian-desktop) under a real agent and QEMU: the
// guest takes the identity the node hands it in fw_cfg, its console logs into Xfce by itself and
// the VNC console shows that graphical desktop, and its xrdp answers RDP with TLS on the node's
// loopback forward: a real FreeRDP client holding the per-VM credentials only the node has gets
// an Xfce session (seen inside the guest through the QEMU guest agent).
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import { existsSync, readFileSync, statSync } from "node:fs";
import { connect } from "node:net";
import { join } from "node:path";
import { guestHostname } from "../src/engines/qemu/desktop.ts";
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
    const c = await rfbHandshake((await f.api.caller(f.alice).console.open({ vmId })).url);
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
});

/** Runs a program in the guest through the QEMU guest agent; its exit code. */
async function guestExec(sock: string, path: string, args: string[]): Promise<{ exitcode: number }> {
  const s = connect(sock);
  let buf = "";
  const lines: string[] = [];
  s.on("data", (d: Buffer) => {
    buf += d.toString();
    for (let nl = buf.indexOf("\n"); nl >= 0; nl = buf.indexOf("\n")) { lines.push(buf.slice(0, nl)); buf = buf.slice(nl + 1); }
  });
  const ask = async (cmd: object): Promise<Record<string, unknown>> => {
    s.write(`${JSON.stringify(cmd)}\n`);
    const r = JSON.parse(await until("the guest agent's answer", () => lines.shift(), 20_000)) as { return?: Record<string, unknown>; error?: { desc: string } };
    if (r.error) throw new Error(`guest agent: ${r.error.desc}`);
    return r.return ?? {};
  };
  try {
    await new Promise((resolve, reject) => s.once("connect", resolve).once("error", reject));
    const id = Math.floor(Math.random() * 1e9);
    // guest-sync first: whatever an earlier client left unread is skipped up to our id.
    s.write(Buffer.from([0xff]));  // resets the agent's parser
    s.write(`${JSON.stringify({ execute: "guest-sync-delimited", arguments: { id } })}\n`);
    const at = await until("the guest agent's guest-sync", () => { const i = lines.findIndex((l) => l.includes(String(id))); return i >= 0 ? i + 1 : null; }, 20_000);
    lines.splice(0, at);
    const { pid } = await ask({ execute: "guest-exec", arguments: { path, arg: args } }) as { pid: number };
    for (;;) {
      const st = await ask({ execute: "guest-exec-status", arguments: { pid } }) as { exited: boolean; exitcode?: number };
      if (st.exited) return { exitcode: st.exitcode ?? -1 };
      await new Promise((r) => setTimeout(r, 200));
    }
  } finally {
    s.destroy();
  }
}
