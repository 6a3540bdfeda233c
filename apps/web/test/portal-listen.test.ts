// Where scripts/portal-server.mjs (what `npm start` runs) listens: loopback unless VDI_LISTEN_HOST
// (or --hostname) says otherwise, and a value that is not an address is refused at start. Runs the
// real script on the built portal (apps/web/.next) and connects over TCP.
import { describe, it, expect, afterEach } from "vitest";
import { spawn, type ChildProcess } from "node:child_process";
import { connect, createServer } from "node:net";
import { networkInterfaces } from "node:os";
import { join } from "node:path";

const SCRIPT = join(import.meta.dirname, "../../../scripts/portal-server.mjs");

/** An IPv4 address of this machine's network interfaces that is not loopback, if it has one. */
const outside = Object.values(networkInterfaces()).flat().find((a) => a && a.family === "IPv4" && !a.internal)?.address;
if (!outside) console.warn("[skip] portal-listen: this machine has no non-loopback IPv4 interface to try");

async function freePort(): Promise<number> {
  const s = createServer();
  await new Promise<void>((r) => s.listen(0, "127.0.0.1", r));
  const { port } = s.address() as { port: number };
  await new Promise((r) => s.close(r));
  return port;
}

let child: ChildProcess | null = null;
afterEach(() => { child?.kill("SIGTERM"); child = null; });

/** Starts the script; resolves with its output once it listens, or once it exits (with the code). */
function start(port: number, env: Record<string, string>, args: string[] = []): Promise<{ listening: boolean; code: number | null; output: string }> {
  const base = { ...process.env };
  delete base.VDI_LISTEN_HOST;
  delete base.PORT;
  child = spawn(process.execPath, [SCRIPT, "--port", String(port), ...args], { env: { ...base, NEXT_TELEMETRY_DISABLED: "1", ...env }, stdio: ["ignore", "pipe", "pipe"] });
  let output = "";
  return new Promise((resolve) => {
    const on = (b: Buffer) => { output += b; if (/portal listening on/.test(output)) resolve({ listening: true, code: null, output }); };
    child!.stdout!.on("data", on);
    child!.stderr!.on("data", on);
    child!.on("exit", (code) => resolve({ listening: false, code, output }));
  });
}

/** Whether a TCP connection to host:port is accepted. */
function accepts(host: string, port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = connect({ host, port, timeout: 2000 });
    s.once("connect", () => { s.destroy(); resolve(true); });
    s.once("timeout", () => { s.destroy(); resolve(false); });
    s.once("error", () => resolve(false));
  });
}

describe("portal-server.mjs listen address", () => {
  it("listens on 127.0.0.1 only by default", async () => {
    const port = await freePort();
    const r = await start(port, {});
    expect(r.listening, r.output).toBe(true);
    if (outside) expect(await accepts(outside, port), `accepted on ${outside}`).toBe(false);
    expect(await accepts("127.0.0.1", port)).toBe(true);
    expect(r.output).toContain(`portal listening on 127.0.0.1:${port}`);
  });

  it.skipIf(!outside)("listens on every interface when VDI_LISTEN_HOST=0.0.0.0", async () => {
    const port = await freePort();
    const r = await start(port, { VDI_LISTEN_HOST: "0.0.0.0" });
    expect(r.listening, r.output).toBe(true);
    expect(await accepts(outside!, port)).toBe(true);
    expect(await accepts("127.0.0.1", port)).toBe(true);
  });

  it("refuses a VDI_LISTEN_HOST that is not an address, before listening", async () => {
    const r = await start(await freePort(), { VDI_LISTEN_HOST: "my-laptop" });
    expect(r.listening).toBe(false);
    expect(r.code).not.toBe(0);
    expect(r.output).toMatch(/VDI_LISTEN_HOST must be an IP address .*"my-laptop"/);
  });
});
