// Shared by the console gateway tests: a fake RFB display on a unix socket (standing in for
// QEMU's VNC socket), a gateway on a real HTTP server, and a WebSocket client that does the
// RFB 3.8 handshake the way noVNC does.
import { createServer as createHttpServer, type Server } from "node:http";
import { createServer as createNetServer, type Server as NetServer, type Socket, type AddressInfo } from "node:net";
import WebSocket from "ws";
import { createConsoleSigner, generateConsoleKeyPem } from "@vdi/api";
import { createConsoleGateway, type GatewayOptions } from "../src/gateway/console-gateway.ts";

export const VERSION = Buffer.from("RFB 003.008\n");
export const DESKTOP_NAME = "test";
/** What the display says up to and including ServerInit: version, types [None], result OK, ServerInit. */
export const SERVER_HANDSHAKE_LENGTH = 12 + 2 + 4 + 24 + DESKTOP_NAME.length;
/** A noVNC-like client's whole handshake: version 3.8, security None, ClientInit shared. */
export const CLIENT_HANDSHAKE = Buffer.concat([VERSION, Buffer.from([1]), Buffer.from([1])]);
const CLIENT_HANDSHAKE_LENGTH = CLIENT_HANDSHAKE.length;

export function serverInit(width = 16, height = 16): Buffer {
  const b = Buffer.alloc(24 + DESKTOP_NAME.length);
  b.writeUInt16BE(width, 0);
  b.writeUInt16BE(height, 2);
  b.set([32, 24, 0, 1, 0, 255, 0, 255, 0, 255, 16, 8, 0], 4);
  b.writeUInt32BE(DESKTOP_NAME.length, 20);
  b.write(DESKTOP_NAME, 24);
  return b;
}

export interface DisplayConnection {
  socket: Socket;
  /** Everything the client sent, as it arrived. */
  raw: Buffer[];
  closed: boolean;
  /** What the client sent after its handshake (its RFB messages). */
  messages(): Buffer;
}

/**
 * "rfb": answers the handshake step by step, then records; "silent": says nothing at all;
 * "flood": after the handshake sends 64 KiB chunks as fast as the gateway takes them.
 */
export async function startFakeDisplay(path: string, mode: "rfb" | "silent" | "flood"): Promise<{ server: NetServer; connections: DisplayConnection[] }> {
  const connections: DisplayConnection[] = [];
  const server = createNetServer((socket) => {
    const conn: DisplayConnection = {
      socket, raw: [], closed: false,
      messages: () => Buffer.concat(conn.raw).subarray(CLIENT_HANDSHAKE_LENGTH),
    };
    connections.push(conn);
    socket.on("error", () => undefined);
    socket.on("close", () => { conn.closed = true; });
    if (mode === "silent") {
      socket.resume();  // reads (and so sees the close), answers nothing
      return;
    }
    socket.write(VERSION);
    let seen = 0;
    socket.on("data", (d: Buffer) => {
      conn.raw.push(d);
      const before = seen;
      seen += d.length;
      // Each answer once the client has sent what it answers: version (12), choice (13), ClientInit (14).
      if (before < 12 && seen >= 12) socket.write(Buffer.from([1, 1]));
      if (before < 13 && seen >= 13) socket.write(Buffer.alloc(4));
      if (before < 14 && seen >= 14) {
        socket.write(serverInit());
        if (mode === "flood") {
          const chunk = Buffer.alloc(64 * 1024, 0x5a);
          const pump = () => {
            while (!socket.destroyed && socket.write(chunk)) { /* until the kernel buffer is full */ }
            if (!socket.destroyed) socket.once("drain", pump);
          };
          pump();
        }
      }
    });
  });
  await new Promise<void>((r) => server.listen(path, r));
  return { server, connections };
}

export const signer = createConsoleSigner(generateConsoleKeyPem());
export const ORIGIN = "http://portal.test";

export async function startGateway(displays: Record<string, string>, extra: Partial<GatewayOptions> = {}) {
  const logs: string[] = [];
  const gw = createConsoleGateway({
    nodeId: () => "node1",
    publicKeyPem: () => signer.publicKeyPem,
    displayOf: (vm) => displays[vm] ?? null,
    mayOpen: () => "allowed",
    allowedOrigins: [ORIGIN],
    log: (m) => logs.push(m),
    ...extra,
  });
  const http: Server = createHttpServer();
  http.on("upgrade", (req, sock, head) => gw.handleUpgrade(req, sock, head));
  await new Promise<void>((r) => http.listen(0, "127.0.0.1", r));
  const url = `ws://127.0.0.1:${(http.address() as AddressInfo).port}/console`;
  return {
    gw, http, url, logs,
    async close() {
      gw.close();
      http.closeAllConnections();
      await new Promise<void>((r) => http.close(() => r()));
    },
  };
}

export interface ConsoleClient {
  ws: WebSocket;
  received: Buffer[];
  receivedLength(): number;
  closed: Promise<{ code: number; reason: string }>;
  /** Resolves once the display's ServerInit has arrived (the client sent its part up front). */
  handshake(): Promise<void>;
}

export function openConsole(url: string, vm: string, opts: { user?: string; autoPong?: boolean; sendHandshake?: boolean; handshake?: Buffer; claims?: { ss?: string; sh?: string; ro?: boolean } } = {}): ConsoleClient {
  const { token } = signer.sign({ vm, node: "node1", user: opts.user ?? "u1", proto: "vnc", ...opts.claims });
  const ws = new WebSocket(`${url}?token=${encodeURIComponent(token)}`, { origin: ORIGIN, autoPong: opts.autoPong ?? true });
  const received: Buffer[] = [];
  let length = 0;
  ws.on("message", (d: Buffer) => { received.push(d); length += d.length; });
  ws.on("error", () => undefined);
  const closed = new Promise<{ code: number; reason: string }>((resolve) => ws.on("close", (code, reason) => resolve({ code, reason: reason.toString() })));
  if (opts.sendHandshake ?? true) ws.on("open", () => ws.send(opts.handshake ?? CLIENT_HANDSHAKE));
  return {
    ws, received, closed,
    receivedLength: () => length,
    handshake: () => waitUntil(() => length >= SERVER_HANDSHAKE_LENGTH, 5_000, "the display's ServerInit"),
  };
}

export async function waitUntil(check: () => boolean, timeoutMs: number, what: string): Promise<void> {
  const t0 = Date.now();
  while (!check()) {
    if (Date.now() - t0 > timeoutMs) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

/** RFB client messages (§7.5) for the tests to send. */
export const pointerEvent = (x = 1, y = 2) => Buffer.from([5, 0, x >> 8, x & 255, y >> 8, y & 255]);
export const keyEvent = (down: boolean, keysym = 0x61) => { const b = Buffer.alloc(8); b[0] = 4; b[1] = down ? 1 : 0; b.writeUInt32BE(keysym, 4); return b; };
export const updateRequest = () => Buffer.from([3, 1, 0, 0, 0, 0, 0, 16, 0, 16]);
