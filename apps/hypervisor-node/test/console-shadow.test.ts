// Helpdesk shadowing at the gateway (docs/seating.md): a shadow's console sees the session it
// watches, and its token says how much of its input passes. View only: keys, pointer, clipboard,
// resize and power actions never reach the display, while update requests do. With control: keys
// and pointer pass, a resize of the user's desktop or a power action still does not. A grant that
// ended closes its console with 4435 and the reason, and its late tokens are refused; the session's
// own console stays open.
import { describe, it, expect, beforeAll, afterAll } from "vitest";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { CLOSE } from "../src/gateway/console-gateway.ts";
import { RfbRelayWatch } from "../src/rfb/rfb-relay-watch.ts";
import { keyEvent, openConsole, pointerEvent, serverInit, startFakeDisplay, startGateway, updateRequest, waitUntil } from "./console-fixtures.ts";

let dir: string;
let gateway: Awaited<ReturnType<typeof startGateway>>;
let display: Awaited<ReturnType<typeof startFakeDisplay>>;

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), "vdi-shadow-"));
  display = await startFakeDisplay(join(dir, "vm.sock"), "rfb");
  gateway = await startGateway({ vm: join(dir, "vm.sock") });
});
afterAll(async () => {
  await gateway?.close();
  display?.server.close();
  rmSync(dir, { recursive: true, force: true });
});

const cutText = (text: string) => { const b = Buffer.alloc(8); b[0] = 6; b.writeUInt32BE(text.length, 4); return Buffer.concat([b, Buffer.from(text, "latin1")]); };
const setDesktopSize = (w: number, h: number) => { const b = Buffer.alloc(8 + 16); b[0] = 251; b.writeUInt16BE(w, 2); b.writeUInt16BE(h, 4); b[6] = 1; b.writeUInt16BE(w, 12); b.writeUInt16BE(h, 14); return b; };
const xvpShutdown = () => Buffer.from([250, 0, 1, 2]);
const qemuKey = () => { const b = Buffer.alloc(12); b[0] = 255; b[1] = 0; b.writeUInt16BE(1, 2); b.writeUInt32BE(0x61, 4); b.writeUInt32BE(0x1e, 8); return b; };
const everything = () => Buffer.concat([updateRequest(), keyEvent(true), pointerEvent(3, 4), cutText("secret"), qemuKey(), setDesktopSize(800, 600), xvpShutdown(), updateRequest()]);

/** What the display gets of `sent` from a console opened with `claims`, sent whole and then byte by byte. */
async function through(claims: { ss?: string; sh?: string; ro?: boolean }, sent: Buffer): Promise<Buffer[]> {
  const got: Buffer[] = [];
  for (const split of [false, true]) {
    const before = display.connections.length;
    const c = openConsole(gateway.url, "vm", { user: "admin", claims });
    await c.handshake();
    await waitUntil(() => display.connections.length > before, 5_000, "the display connection");
    const conn = display.connections.at(-1)!;
    if (split) for (const b of sent) c.ws.send(Buffer.from([b]));
    else c.ws.send(sent);
    // The last update request is the marker: everything before it has been dealt with.
    await waitUntil(() => conn.messages().subarray(-10).equals(updateRequest()) && conn.messages().length >= 20, 5_000, "the update requests");
    got.push(Buffer.from(conn.messages()));
    c.ws.close();
    await waitUntil(() => gateway.gw.activeConnections() === 0, 5_000, "closed");
  }
  return got;
}

describe("helpdesk shadow consoles", () => {
  it("view only: only what a viewer sends by itself reaches the display (whole and byte by byte)", async () => {
    for (const got of await through({ ss: "sess1", sh: "grant1", ro: true }, everything())) {
      expect(got).toEqual(Buffer.concat([updateRequest(), updateRequest()]));
    }
  });

  it("with control: keys, pointer and clipboard pass; a resize of the user's desktop and a power action do not", async () => {
    const want = Buffer.concat([updateRequest(), keyEvent(true), pointerEvent(3, 4), cutText("secret"), qemuKey(), updateRequest()]);
    for (const got of await through({ ss: "sess1", sh: "grant2" }, everything())) expect(got).toEqual(want);
  });

  it("the user's own console passes everything (the policy is the shadow's only)", async () => {
    for (const got of await through({ ss: "sess1" }, everything())) expect(got).toEqual(everything());
  });

  it("an ended grant closes its console with the reason and refuses its tokens; the session's console stays", async () => {
    const user = openConsole(gateway.url, "vm", { user: "u1", claims: { ss: "sess9" } });
    const shadow = openConsole(gateway.url, "vm", { user: "admin", claims: { ss: "sess9", sh: "grant9", ro: true } });
    await user.handshake();
    await shadow.handshake();
    expect(gateway.gw.endSeatSessions([{ id: "grant9", reason: "the user gave control" }])).toBe(1);
    expect(await shadow.closed).toEqual({ code: CLOSE.SEAT_SESSION_ENDED, reason: "the user gave control" });
    const late = openConsole(gateway.url, "vm", { user: "admin", claims: { ss: "sess9", sh: "grant9" } });
    expect(await late.closed).toEqual({ code: CLOSE.SEAT_SESSION_ENDED, reason: "the user gave control" });
    expect(user.ws.readyState).toBe(user.ws.OPEN);
    // The session's end closes both kinds.
    const next = openConsole(gateway.url, "vm", { user: "admin", claims: { ss: "sess9", sh: "grant10", ro: true } });
    await next.handshake();
    gateway.gw.endSeatSessions([{ id: "grant9", reason: "the user gave control" }, { id: "sess9", reason: "logged off by an administrator" }]);
    expect(await user.closed).toEqual({ code: CLOSE.SEAT_SESSION_ENDED, reason: "logged off by an administrator" });
    expect(await next.closed).toEqual({ code: CLOSE.SEAT_SESSION_ENDED, reason: "logged off by an administrator" });
    gateway.gw.endSeatSessions([]);
  });

  it("a view-only watch that loses the framing (an unknown message) closes rather than guess", () => {
    const events: string[] = [];
    const w = new RfbRelayWatch({ done: () => events.push("done"), fail: (r) => events.push(`fail: ${r}`) }, "none");
    w.fromServer(Buffer.from("RFB 003.008\n"));
    w.fromClient(Buffer.from("RFB 003.008\n"));
    w.fromServer(Buffer.from([1, 1]));
    w.fromClient(Buffer.from([1]));
    w.fromServer(Buffer.alloc(4));
    w.fromClient(Buffer.from([1]));
    w.fromServer(serverInit());
    while (w.takeForDisplay()) { /* the handshake */ }
    w.fromClient(Buffer.concat([updateRequest(), Buffer.from([77, 1, 2, 3])]));
    expect(events).toEqual(["done", "fail: unknown client message on a view-only console"]);
    expect(w.takeForDisplay()).toBeNull();
  });
});
