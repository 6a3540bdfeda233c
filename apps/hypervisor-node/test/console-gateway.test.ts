// The console gateway refuses every bad token with a clear close code and relays for a good one.
// The display here is a plain unix socket server standing in for QEMU's VNC socket.
import { describe, it, expect, beforeAll, afterAll } from "vitest";
import { createServer as createHttpServer, type Server } from "node:http";
import { createServer as createNetServer, type Server as NetServer } from "node:net";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { AddressInfo } from "node:net";
import WebSocket from "ws";
import { createConsoleSigner, generateConsoleKeyPem } from "@vdi/api";
import { createConsoleGateway, CLOSE } from "../src/gateway/console-gateway.ts";

const signer = createConsoleSigner(generateConsoleKeyPem());
const other = createConsoleSigner(generateConsoleKeyPem());
let dir: string;
let display: NetServer;
let http: Server;
let url: string;
const received: Buffer[] = [];

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), "vdi-gw-"));
  display = createNetServer((s) => {
    s.write("RFB 003.008\n");
    s.on("data", (d) => received.push(d));
  });
  await new Promise<void>((r) => display.listen(join(dir, "vnc.sock"), r));
  const gw = createConsoleGateway({
    nodeId: () => "node1",
    publicKeyPem: () => signer.publicKeyPem,
    displayOf: (vm) => (vm === "vm1" ? join(dir, "vnc.sock") : null),
    allowedOrigins: ["http://portal.test"],
    log: () => undefined,
  });
  http = createHttpServer();
  http.on("upgrade", (req, sock, head) => gw.handleUpgrade(req, sock, head));
  await new Promise<void>((r) => http.listen(0, "127.0.0.1", r));
  url = `ws://127.0.0.1:${(http.address() as AddressInfo).port}/console`;
});
afterAll(() => {
  http.close();
  display.close();
  rmSync(dir, { recursive: true, force: true });
});

function open(token: string, origin = "http://portal.test"): Promise<{ code: number; reason: string; first: Buffer | null; ws: WebSocket }> {
  return new Promise((resolve) => {
    const ws = new WebSocket(`${url}?token=${encodeURIComponent(token)}`, { origin });
    let first: Buffer | null = null;
    ws.on("message", (d: Buffer) => {
      first ??= d;
      resolve({ code: 0, reason: "open", first, ws });
    });
    ws.on("close", (code, reason) => resolve({ code, reason: reason.toString(), first, ws }));
  });
}

const claims = { vm: "vm1", node: "node1", user: "u1", proto: "vnc" as const };

describe("console gateway", () => {
  it("refuses a token signed by another key", async () => {
    const r = await open(other.sign(claims).token);
    expect([r.code, r.reason]).toEqual([CLOSE.BAD_TOKEN, "invalid token: bad signature"]);
  });
  it("refuses garbage, a tampered body and an expired token", async () => {
    expect((await open("not-a-token")).code).toBe(CLOSE.BAD_TOKEN);
    const { token } = signer.sign(claims);
    const [body, sig] = token.split(".") as [string, string];
    const tampered = Buffer.from(JSON.stringify({ ...JSON.parse(Buffer.from(body, "base64url").toString()), vm: "vm2" })).toString("base64url");
    expect((await open(`${tampered}.${sig}`)).reason).toBe("invalid token: bad signature");
    const old = signer.sign(claims, Date.now() - 61_000).token;
    expect((await open(old)).reason).toBe("invalid token: token expired");
  });
  it("refuses a token for another node, a VM that is not running, and a foreign origin", async () => {
    expect((await open(signer.sign({ ...claims, node: "node2" }).token)).code).toBe(CLOSE.WRONG_TARGET);
    expect((await open(signer.sign({ ...claims, vm: "vm2" }).token)).code).toBe(CLOSE.NOT_RUNNING);
    expect((await open(signer.sign(claims).token, "http://evil.test")).code).toBe(CLOSE.ORIGIN);
  });
  it("refuses a thumbnail token: it is reusable and read-only, never a console", async () => {
    const r = await open(signer.sign({ ...claims, proto: "thumb" }).token);
    expect([r.code, r.reason, r.first]).toEqual([CLOSE.BAD_TOKEN, "not a console token", null]);
  });
  it("relays both ways for a valid token, exactly once", async () => {
    const { token } = signer.sign(claims);
    const r = await open(token);
    expect(r.first?.toString()).toBe("RFB 003.008\n");
    r.ws.send(Buffer.from("RFB 003.008\n"));
    await new Promise((res) => setTimeout(res, 100));
    expect(Buffer.concat(received).toString()).toContain("RFB 003.008\n");
    r.ws.close();
    const again = await open(token);
    expect([again.code, again.reason]).toEqual([CLOSE.REPLAYED, "token already used"]);
  });
});
