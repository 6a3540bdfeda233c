// The console gateway: a WebSocket endpoint that accepts only a valid console token, then
// relays RFB bytes between the browser and the VM's VNC unix socket. It never parses the
// target from the client: the token names the VM, and the node maps that to its socket.
import type { IncomingMessage } from "node:http";
import { connect } from "node:net";
import { WebSocketServer, type WebSocket } from "ws";
import { ReplayGuard, verifyConsoleToken } from "@vdi/api/console-token";
import { portalKey } from "../lib/portal-key.ts";

/** Close codes (4000–4999 are for applications, RFC 6455 §7.4.2). */
export const CLOSE = {
  BAD_TOKEN: 4401,
  WRONG_TARGET: 4403,
  NOT_RUNNING: 4404,
  REPLAYED: 4409,
  ORIGIN: 4405,
  DISPLAY_GONE: 4410,
  NOT_READY: 4503,
} as const;

/** Client → server RFB messages are small; 1 MiB leaves room for clipboard text. */
const MAX_CLIENT_MESSAGE = 1024 * 1024;
/** Stop reading the VNC socket while this much is queued for a slow browser. */
const HIGH_WATER = 4 * 1024 * 1024;

export interface GatewayOptions {
  nodeId: () => string | null;
  publicKeyPem: () => string | null;
  displayOf: (vmId: string) => string | null;
  allowedOrigins: string[];
  log: (msg: string) => void;
}

export function createConsoleGateway(opts: GatewayOptions) {
  const replay = new ReplayGuard();
  const key = portalKey(opts.publicKeyPem);

  const wss = new WebSocketServer({ noServer: true, maxPayload: MAX_CLIENT_MESSAGE, perMessageDeflate: false });
  let active = 0;

  function refuse(ws: WebSocket, code: number, reason: string) {
    opts.log(`console refused: ${reason}`);
    ws.close(code, reason.slice(0, 120));
  }

  wss.on("connection", (ws: WebSocket, req: IncomingMessage) => {
    const origin = req.headers.origin;
    if (opts.allowedOrigins.length > 0 && (!origin || !opts.allowedOrigins.includes(origin))) {
      return refuse(ws, CLOSE.ORIGIN, "origin not allowed");
    }
    const pub = key();
    const nodeId = opts.nodeId();
    if (!pub || !nodeId) return refuse(ws, CLOSE.NOT_READY, "node not registered yet");
    const token = new URL(req.url ?? "/", "http://x").searchParams.get("token") ?? "";
    const v = verifyConsoleToken(token, pub);
    if (!v.ok) return refuse(ws, CLOSE.BAD_TOKEN, `invalid token: ${v.reason}`);
    // A thumbnail token is reusable and read-only: it must never open an interactive console.
    if (v.claims.proto !== "vnc") return refuse(ws, CLOSE.BAD_TOKEN, "not a console token");
    if (v.claims.node !== nodeId) return refuse(ws, CLOSE.WRONG_TARGET, "token is for another node");
    const socketPath = opts.displayOf(v.claims.vm);
    if (!socketPath) return refuse(ws, CLOSE.NOT_RUNNING, "VM is not running on this node");
    if (!replay.claim(v.claims.jti, v.claims.exp)) return refuse(ws, CLOSE.REPLAYED, "token already used");

    active++;
    const vnc = connect(socketPath);
    let closed = false;
    const finish = (code: number, reason: string) => {
      if (closed) return;
      closed = true;
      active--;
      vnc.destroy();
      if (ws.readyState === ws.OPEN || ws.readyState === ws.CONNECTING) ws.close(code, reason);
    };
    vnc.on("data", (chunk: Buffer) => {
      ws.send(chunk);
      if (ws.bufferedAmount > HIGH_WATER) {
        vnc.pause();
        const drain = setInterval(() => {
          if (closed || ws.bufferedAmount < HIGH_WATER / 4) {
            clearInterval(drain);
            vnc.resume();
          }
        }, 10);
      }
    });
    vnc.on("error", () => finish(CLOSE.DISPLAY_GONE, "display unavailable"));
    vnc.on("close", () => finish(CLOSE.DISPLAY_GONE, "display closed"));
    ws.on("message", (data: Buffer, isBinary: boolean) => {
      if (!isBinary) return finish(1003, "binary frames only");
      if (!vnc.write(data)) {
        ws.pause();
        vnc.once("drain", () => ws.resume());
      }
    });
    ws.on("close", () => finish(1000, "client closed"));
    ws.on("error", () => finish(1011, "socket error"));
  });

  return {
    handleUpgrade(req: IncomingMessage, socket: import("node:stream").Duplex, head: Buffer) {
      wss.handleUpgrade(req, socket, head, (ws) => wss.emit("connection", ws, req));
    },
    activeConnections: () => active,
    close: () => wss.close(),
  };
}
