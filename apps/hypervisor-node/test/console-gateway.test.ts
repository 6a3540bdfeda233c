// The console gateway refuses every bad token with a clear close code and relays for a good one:
// forged, tampered, expired, replayed, other-node, other-VM, other-user and other-protocol tokens,
// and pages from other origins. The displays here are plain unix socket servers standing in for
// QEMU's VNC sockets; two VMs run, so "reached the wrong VM" is observable.
import { describe, it, expect, beforeAll, afterAll, beforeEach } from "vitest";
import { createServer as createHttpServer, type Server } from "node:http";
import { createServer as createNetServer, type Server as NetServer } from "node:net";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { AddressInfo } from "node:net";
import WebSocket from "ws";
import { createConsoleSigner, generateConsoleKeyPem } from "@vdi/api";
import { createConsoleGateway, CLOSE, type GatewayOptions } from "../src/gateway/console-gateway.ts";
import { ConsoleAccessTable } from "../src/gateway/console-access.ts";

const signer = createConsoleSigner(generateConsoleKeyPem());
const other = createConsoleSigner(generateConsoleKeyPem());
const PORTAL = "http://portal.test";
let dir: string;
const displays: Record<string, { server: NetServer; connections: number; received: Buffer[] }> = {};
const servers: Array<{ http: Server; close(): void }> = [];
let url: string;
let gateway: ReturnType<typeof createConsoleGateway>;

/**
 * vm1 (tenant t1, owner u1, private) and vm2 (tenant t1, owner u2, private) both run here.
 * u1, u2 are t1's users, boss is t1's admin, stranger is t2's user.
 */
const access = new ConsoleAccessTable();
const ACCESS = {
  vms: [{ id: "vm1", tenant: "t1", owner: "u1", shared: false }, { id: "vm2", tenant: "t1", owner: "u2", shared: false }],
  tenants: [{ id: "t1", admins: ["boss"], users: ["u1", "u2"] }, { id: "t2", admins: [], users: ["stranger"] }],
};

async function startDisplay(vm: string) {
  const d = { server: createNetServer(), connections: 0, received: [] as Buffer[] };
  d.server.on("connection", (s) => {
    d.connections++;
    s.write("RFB 003.008\n");
    s.on("data", (b) => d.received.push(b));
    s.on("error", () => undefined);
  });
  await new Promise<void>((r) => d.server.listen(join(dir, `${vm}.sock`), r));
  displays[vm] = d;
}

async function startGateway(extra: Partial<GatewayOptions> = {}) {
  const gw = createConsoleGateway({
    nodeId: () => "node1",
    publicKeyPem: () => signer.publicKeyPem,
    displayOf: (vm) => (displays[vm] ? join(dir, `${vm}.sock`) : null),
    mayOpen: (vm, user) => access.verdict(vm, user),
    allowedOrigins: [PORTAL],
    log: () => undefined,
    ...extra,
  });
  const http = createHttpServer();
  http.on("upgrade", (req, sock, head) => gw.handleUpgrade(req, sock, head));
  await new Promise<void>((r) => http.listen(0, "127.0.0.1", r));
  servers.push({ http, close: () => { gw.close(); http.closeAllConnections(); http.close(); } });
  return { gw, url: `ws://127.0.0.1:${(http.address() as AddressInfo).port}/console` };
}

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), "vdi-gw-"));
  await startDisplay("vm1");
  await startDisplay("vm2");
  ({ gw: gateway, url } = await startGateway());
});
beforeEach(() => access.replace(ACCESS));
afterAll(() => {
  for (const s of servers) s.close();
  for (const d of Object.values(displays)) d.server.close();
  rmSync(dir, { recursive: true, force: true });
});

interface Opened { code: number; reason: string; first: Buffer | null; ws: WebSocket }

function open(token: string, opts: { origin?: string | null; at?: string } = {}): Promise<Opened> {
  return new Promise((resolve) => {
    const origin = opts.origin === undefined ? PORTAL : opts.origin;
    const at = opts.at ?? url;
    const ws = new WebSocket(`${at}${at.includes("?") ? "&" : "?"}token=${encodeURIComponent(token)}`, origin === null ? {} : { origin });
    let first: Buffer | null = null;
    ws.on("message", (d: Buffer) => {
      first ??= d;
      resolve({ code: 0, reason: "open", first, ws });
    });
    ws.on("error", () => undefined);
    ws.on("close", (code, reason) => resolve({ code, reason: reason.toString(), first, ws }));
  });
}

const closed = (ws: WebSocket) => new Promise<{ code: number; reason: string }>((r) => ws.on("close", (code, reason) => r({ code, reason: reason.toString() })));
const claims = { vm: "vm1", node: "node1", user: "u1", proto: "vnc" as const };

describe("console gateway", () => {
  it("refuses a token signed by another key (forged)", async () => {
    const r = await open(other.sign(claims).token);
    expect([r.code, r.reason]).toEqual([CLOSE.BAD_TOKEN, "invalid token: bad signature"]);
  });

  it("refuses garbage, a body edited to name another VM, and an expired token", async () => {
    expect((await open("not-a-token")).code).toBe(CLOSE.BAD_TOKEN);
    const { token } = signer.sign(claims);
    const [body, sig] = token.split(".") as [string, string];
    const tampered = Buffer.from(JSON.stringify({ ...JSON.parse(Buffer.from(body, "base64url").toString()), vm: "vm2" })).toString("base64url");
    expect((await open(`${tampered}.${sig}`)).reason).toBe("invalid token: bad signature");
    const old = signer.sign(claims, Date.now() - 61_000).token;
    expect((await open(old)).reason).toBe("invalid token: token expired");
  });

  it("refuses a token for another node and a VM that is not running here", async () => {
    expect((await open(signer.sign({ ...claims, node: "node2" }).token)).code).toBe(CLOSE.WRONG_TARGET);
    access.replace({ ...ACCESS, vms: [...ACCESS.vms, { id: "vm3", tenant: "t1", owner: "u1", shared: false }] });
    expect((await open(signer.sign({ ...claims, vm: "vm3" }).token)).code).toBe(CLOSE.NOT_RUNNING);
  });

  it("refuses pages from another origin, and handshakes without an Origin (not a browser page of the portal)", async () => {
    const before = displays.vm1!.connections;
    expect((await open(signer.sign(claims).token, { origin: "http://evil.test" })).code).toBe(CLOSE.ORIGIN);
    expect((await open(signer.sign(claims).token, { origin: null })).code).toBe(CLOSE.ORIGIN);
    expect(displays.vm1!.connections).toBe(before);
  });

  it("accepts any origin only when told to (VDI_NODE_ALLOWED_ORIGINS=*)", async () => {
    const open_ = await startGateway({ allowedOrigins: "any" });
    const r = await open(signer.sign(claims).token, { origin: "http://elsewhere.test", at: open_.url });
    expect(r.first?.toString()).toBe("RFB 003.008\n");
    r.ws.close();
  });

  it("refuses a thumbnail token (protocol thumb used for vnc): it is reusable and read-only, never a console", async () => {
    const before = displays.vm1!.connections;
    const r = await open(signer.sign({ ...claims, proto: "thumb" }).token);
    expect([r.code, r.reason, r.first]).toEqual([CLOSE.BAD_TOKEN, "not a console token", null]);
    expect(displays.vm1!.connections).toBe(before);
  });

  it("takes the VM only from the token: a token for running VM X reaches X's display, whatever VM the URL names", async () => {
    const one = displays.vm1!.connections, two = displays.vm2!.connections;
    // u2's valid token for vm2, sent to a URL that names vm1 every way a client might try.
    const r = await open(signer.sign({ ...claims, vm: "vm2", user: "u2" }).token, { at: `${url.replace(/\/console$/, "/console/vm1")}` });
    expect(r.first?.toString()).toBe("RFB 003.008\n");
    await new Promise((res) => setTimeout(res, 50));
    expect([displays.vm1!.connections - one, displays.vm2!.connections - two]).toEqual([0, 1]);
    r.ws.close();
    const viaQuery = await open(signer.sign({ ...claims, vm: "vm2", user: "u2" }).token, { at: `${url}?vm=vm1&target=vm1.sock` });
    expect(viaQuery.first).not.toBeNull();
    await new Promise((res) => setTimeout(res, 50));
    expect([displays.vm1!.connections - one, displays.vm2!.connections - two]).toEqual([0, 2]);
    viaQuery.ws.close();
  });

  it("refuses a token whose user may not use that VM: another user's private VM, another tenant, a user it does not know", async () => {
    const before = displays.vm2!.connections;
    // u1 is in vm2's tenant, but vm2 is u2's and not shared.
    expect(await open(signer.sign({ ...claims, vm: "vm2", user: "u1" }).token)).toMatchObject({ code: CLOSE.REVOKED, reason: "user may not use this VM", first: null });
    expect(await open(signer.sign({ ...claims, vm: "vm2", user: "stranger" }).token)).toMatchObject({ code: CLOSE.REVOKED, reason: "user may not use this VM" });
    expect(await open(signer.sign({ ...claims, vm: "vm2", user: "deleted-user" }).token)).toMatchObject({ code: CLOSE.REVOKED });
    expect(displays.vm2!.connections).toBe(before);
    // The tenant's admin may; so may u1 once u2 shares it.
    const admin = await open(signer.sign({ ...claims, vm: "vm2", user: "boss" }).token);
    expect(admin.first).not.toBeNull();
    admin.ws.close();
    access.replace({ ...ACCESS, vms: [ACCESS.vms[0]!, { ...ACCESS.vms[1]!, shared: true }] });
    const shared = await open(signer.sign({ ...claims, vm: "vm2", user: "u1" }).token);
    expect(shared.first).not.toBeNull();
    shared.ws.close();
  });

  it("refuses consoles until the portal has said who may use the VM", async () => {
    const fresh = new ConsoleAccessTable();
    const gw = await startGateway({ mayOpen: (vm, user) => fresh.verdict(vm, user) });
    expect(await open(signer.sign(claims).token, { at: gw.url })).toMatchObject({ code: CLOSE.NOT_READY, reason: "console access for this VM not known yet" });
    fresh.replace(ACCESS);
    const r = await open(signer.sign(claims).token, { at: gw.url });
    expect(r.first).not.toBeNull();
    r.ws.close();
  });

  it("asks the portal again for a VM its last answer did not list (made a moment ago), then decides", async () => {
    const table = new ConsoleAccessTable();
    table.replace({ ...ACCESS, vms: [] });
    let asked = 0;
    const refreshAccess = async () => { asked++; await new Promise((r) => setTimeout(r, 50)); table.replace(ACCESS); };
    const gw = await startGateway({ mayOpen: (vm, user) => table.verdict(vm, user), refreshAccess });
    const r = await open(signer.sign(claims).token, { at: gw.url });
    expect(r.first).not.toBeNull();
    expect(asked).toBe(1);
    r.ws.close();
    // A portal that still does not list it: refused, not left waiting.
    const never = new ConsoleAccessTable();
    never.replace({ ...ACCESS, vms: [] });
    const gw2 = await startGateway({ mayOpen: (vm, user) => never.verdict(vm, user), refreshAccess: async () => undefined });
    expect(await open(signer.sign(claims).token, { at: gw2.url })).toMatchObject({ code: CLOSE.NOT_READY });
  });

  it("closes an open console when its user loses the VM (unshared, moved to another tenant)", async () => {
    const r = await open(signer.sign(claims).token);
    expect(r.first).not.toBeNull();
    const ended = closed(r.ws);
    expect(gateway.recheckAccess()).toBe(0);  // nothing changed: it stays open
    access.replace({ ...ACCESS, vms: [{ id: "vm1", tenant: "t2", owner: "stranger", shared: false }, ACCESS.vms[1]!] });
    expect(gateway.recheckAccess()).toBe(1);
    expect(await ended).toEqual({ code: CLOSE.REVOKED, reason: "access revoked" });
  });

  it("closes a seat session's consoles when the portal says it ended (roaming), with the reason, and refuses its tokens", async () => {
    const mine = await open(signer.sign({ ...claims, ss: "sessA" }).token);
    const other = await open(signer.sign({ ...claims, ss: "sessB" }).token);
    const plain = await open(signer.sign(claims).token);
    expect([mine.first, other.first, plain.first].every((f) => f !== null)).toBe(true);
    const ended = closed(mine.ws);
    expect(gateway.endSeatSessions([{ id: "sessA", reason: "continued at seat Desk B" }])).toBe(1);
    expect(await ended).toEqual({ code: CLOSE.SEAT_SESSION_ENDED, reason: "continued at seat Desk B" });
    // A token the portal signed for that session before it ended opens nothing now.
    const late = await open(signer.sign({ ...claims, ss: "sessA" }).token);
    expect([late.code, late.reason]).toEqual([CLOSE.SEAT_SESSION_ENDED, "continued at seat Desk B"]);
    expect(other.ws.readyState).toBe(WebSocket.OPEN);
    expect(plain.ws.readyState).toBe(WebSocket.OPEN);
    other.ws.close();
    plain.ws.close();
    gateway.endSeatSessions([]);
  });

  it("relays both ways for a valid token, exactly once (a replay is refused)", async () => {
    const { token } = signer.sign(claims);
    const r = await open(token);
    expect(r.first?.toString()).toBe("RFB 003.008\n");
    r.ws.send(Buffer.from("RFB 003.008\n"));
    await new Promise((res) => setTimeout(res, 100));
    expect(Buffer.concat(displays.vm1!.received).toString()).toContain("RFB 003.008\n");
    r.ws.close();
    const again = await open(token);
    expect([again.code, again.reason]).toEqual([CLOSE.REPLAYED, "token already used"]);
  });
});
