// The console gateway: a WebSocket endpoint that accepts only a valid console token, then
// relays bytes between the browser and the VM's unix socket for the token's protocol. It never
// parses the target from the client: the token names the VM, and the protocol's row
// (stream-protocol.ts; rfb/rfb-stream.ts, rdp/rdp-stream.ts) opens what serves it and watches the stream.
// Each connection lives within ConsoleLimits and ends when its VM stops or its user loses access.
import type { IncomingMessage } from "node:http";
import { connect, type Socket } from "node:net";
import type { Duplex } from "node:stream";
import { WebSocketServer, type WebSocket } from "ws";
import { createAdmission, type Admission, type Refusal } from "./admission.ts";
import { consoleLimits, TokenBucket, type ConsoleLimits } from "./console-limits.ts";
import type { StreamProtocol, StreamProtocols, StreamTarget } from "./stream-protocol.ts";
import { rfbStream } from "../rfb/rfb-stream.ts";
import type { AccessVerdict } from "./console-access.ts";

/** Close codes (4000–4999 are for applications, RFC 6455 §7.4.2). docs/console-security.md. */
export const CLOSE = {
  PROTOCOL_ERROR: 4400,
  BAD_TOKEN: 4401,
  WRONG_TARGET: 4403,
  NOT_RUNNING: 4404,
  ORIGIN: 4405,
  REVOKED: 4406,
  VM_STOPPED: 4407,
  IDLE: 4408,
  REPLAYED: 4409,
  DISPLAY_GONE: 4410,
  RATE_LIMITED: 4429,
  SLOW_CLIENT: 4430,
  PONG_TIMEOUT: 4431,
  HANDSHAKE_TIMEOUT: 4432,
  /** Refused: the VM has as many consoles of other users than its owner as it takes. */
  VM_CONSOLES_FULL: 4433,
  /** Closed: the same user opened one console too many on this VM; the newest stays. */
  REPLACED: 4434,
  /** Closed: the seat session it belonged to ended (the user continued at another seat, logged out, idled). */
  SEAT_SESSION_ENDED: 4435,
  NOT_READY: 4503,
} as const;

/** What each admission refusal closes the WebSocket with. */
const REFUSAL_CODE: Record<Refusal, number> = {
  "not-ready": CLOSE.NOT_READY,
  "bad-token": CLOSE.BAD_TOKEN,
  "wrong-protocol": CLOSE.BAD_TOKEN,
  "wrong-target": CLOSE.WRONG_TARGET,
  revoked: CLOSE.REVOKED,
  forbidden: CLOSE.REVOKED,
  "access-unknown": CLOSE.NOT_READY,
  replayed: CLOSE.REPLAYED,
  "session-ended": CLOSE.SEAT_SESSION_ENDED,
};

/** How long a closed target's socket waits for the reason its server ended. */
const ENDED_WAIT_MS = 1_000;

/** How often a paused relay looks whether the browser has drained. */
const DRAIN_POLL_MS = 20;

export interface GatewayOptions {
  nodeId: () => string | null;
  publicKeyPem: () => string | null;
  /** The VM's VNC socket here (the RFB row, when `protocols` does not name the rows itself). */
  displayOf?: (vmId: string) => string | null;
  /** The protocols relayed, one row each; { vnc: rfbStream(displayOf) } when absent. */
  protocols?: StreamProtocols;
  /** May this user open this VM's console (console-access.ts)? "unknown" is refused too. */
  mayOpen: (vmId: string, userId: string) => AccessVerdict;
  /** Whether `userId` owns the VM (the owner always gets a console; console-access.ts). */
  isOwner?: (vmId: string, userId: string) => boolean;
  /** Asks the portal again at once: a VM created a moment ago is not in the last answer yet. */
  refreshAccess?: () => Promise<void>;
  /** Origins whose pages may open consoles; "any" turns the check off (VDI_NODE_ALLOWED_ORIGINS=*). */
  allowedOrigins: readonly string[] | "any";
  log: (msg: string) => void;
  /** Per-connection limits; DEFAULT_CONSOLE_LIMITS for what is left out. */
  limits?: Partial<ConsoleLimits>;
  /** The node's one admission (shared with the thumbnails); made from the options above when absent. */
  admission?: Admission;
}

interface OpenConsole {
  vmId: string;
  userId: string;
  owner: boolean;
  /** The seat session it belongs to (a seat's kiosk opened it). */
  seatSession: string | undefined;
  /** The helpdesk shadow grant it belongs to: it closes when that grant ends. */
  shadow: string | undefined;
  openedAt: number;
  finish(code: number, reason: string): void;
}

export function createConsoleGateway(opts: GatewayOptions) {
  const limits = consoleLimits(opts.limits);
  const admission = opts.admission ?? createAdmission(opts);
  const consoles = new Set<OpenConsole>();
  const protocols: StreamProtocols = opts.protocols ?? (opts.displayOf ? { vnc: rfbStream(opts.displayOf) } : {});

  const wss = new WebSocketServer({ noServer: true, maxPayload: limits.maxMessageBytes, perMessageDeflate: false });

  /** Sends a close frame; a browser that does not finish the close handshake in time is dropped. */
  function closeSocket(ws: WebSocket, code: number, reason: string) {
    if (ws.readyState !== ws.OPEN && ws.readyState !== ws.CONNECTING) return;
    ws.close(code, reason.slice(0, 120));
    setTimeout(() => ws.terminate(), limits.closeGraceMs).unref();
  }

  function refuse(ws: WebSocket, code: number, reason: string) {
    opts.log(`console refused: ${reason}`);
    closeSocket(ws, code, reason);
  }

  wss.on("connection", (ws: WebSocket, req: IncomingMessage, protocol: keyof StreamProtocols) => {
    const stream = protocols[protocol];
    if (!stream) return refuse(ws, CLOSE.BAD_TOKEN, `this node serves no ${protocol} consoles`);
    const origin = req.headers.origin;
    // Browsers always send Origin on a WebSocket handshake; a page on another site must not be able
    // to use a token it got hold of from the user's browser. Without the header: not a page of ours.
    if (opts.allowedOrigins !== "any" && (!origin || !opts.allowedOrigins.includes(origin))) {
      return refuse(ws, CLOSE.ORIGIN, "origin not allowed");
    }
    const token = new URL(req.url ?? "/", "http://x").searchParams.get("token") ?? "";
    // The client speaks only after our ProtocolVersion, so nothing of it is lost while admission
    // waits (for the portal's access table on a VM made a moment ago).
    void admission.admit(token, protocol).then((a) => {
      if (ws.readyState !== ws.OPEN) return;
      if (!a.ok) return refuse(ws, REFUSAL_CODE[a.refusal], a.reason);
      const { claims } = a;
      const missing = stream.unavailable(claims.vm);
      if (missing) return refuse(ws, CLOSE.NOT_RUNNING, missing);
      if (!a.consume()) return refuse(ws, CLOSE.REPLAYED, "token already used");
      const owner = opts.isOwner?.(claims.vm, claims.user) ?? false;
      const room = makeRoom(claims.vm, claims.user, owner);
      if (room) return refuse(ws, CLOSE.VM_CONSOLES_FULL, room);
      relay(ws, stream, claims.vm, claims.user, owner, { seatSession: claims.ss, shadow: claims.sh, viewOnly: claims.ro === true });
    });
  });

  /**
   * The per-VM console caps (the display itself takes 32 viewers at most): a user's consoles past
   * `consolesPerUser` close oldest first (the newest stays: the user moved on); others than the
   * owner are refused once they hold `consolesPerVm - consolesPerUser`, so the owner's share is
   * always free and the owner always gets in. Returns why the console is refused, or null.
   */
  function makeRoom(vmId: string, userId: string, owner: boolean): string | null {
    const onVm = [...consoles].filter((c) => c.vmId === vmId).sort((a, b) => a.openedAt - b.openedAt);
    const mine = onVm.filter((c) => c.userId === userId);
    for (const c of mine.slice(0, Math.max(0, mine.length - limits.consolesPerUser + 1))) {
      c.finish(CLOSE.REPLACED, `a newer console of the same user took its place (at most ${limits.consolesPerUser} per user)`);
    }
    if (owner) return null;
    const others = onVm.filter((c) => consoles.has(c) && !c.owner).length;
    return others >= limits.consolesPerVm - limits.consolesPerUser ? `this VM has ${others} consoles open, the most it takes besides its owner's` : null;
  }

  function relay(ws: WebSocket, stream: StreamProtocol, vmId: string, userId: string, owner: boolean, who: { seatSession?: string | undefined; shadow?: string | undefined; viewOnly: boolean }) {
    const { seatSession, shadow, viewOnly } = who;
    // The target is opened after the console takes its place (the caps count it at once); the
    // client speaks only after the target's first bytes, so nothing of it waits meanwhile.
    let target: Socket | null = null;
    let opened: StreamTarget | null = null;
    const messages = new TokenBucket(limits.messagesPerSecond, limits.messageBurst);
    const bytes = new TokenBucket(limits.bytesPerSecond, limits.byteBurst);
    let closed = false;
    let lastInputAt = Date.now();
    let paused = false;
    let drainPoll: NodeJS.Timeout | undefined;
    let pongDeadline: NodeJS.Timeout | undefined;
    const entry: OpenConsole = { vmId, userId, owner, seatSession, shadow, openedAt: performance.now(), finish };
    consoles.add(entry);

    function finish(code: number, reason: string) {
      if (closed) return;
      closed = true;
      consoles.delete(entry);
      clearTimeout(handshakeTimer);
      clearTimeout(idleTimer);
      clearInterval(pingTimer);
      clearTimeout(pongDeadline);
      clearInterval(drainPoll);
      target?.destroy();
      opened?.release();
      if (code >= 4000) opts.log(`console of vm ${vmId} closed (${code}): ${reason}`);
      closeSocket(ws, code, reason);
    }

    // The handshake's time counts from the target's opening (a bridge logs in first, in its own time).
    let handshakeTimer: NodeJS.Timeout | undefined;
    // A shadow sees the session it watches; with control, it may type and point, never resize it.
    const watch = stream.watch(vmId, {
      done: () => clearTimeout(handshakeTimer),
      fail: (reason) => finish(CLOSE.PROTOCOL_ERROR, reason),
      log: opts.log,
    }, { input: viewOnly ? "none" : shadow ? "control" : "all" });
    /** What the watch has read of the client goes to the target, with backpressure. */
    function toTarget() {
      if (!target) return;
      for (let out = watch.takeForTarget(); out && !closed; out = watch.takeForTarget()) {
        if (!target.write(out)) {
          ws.pause();
          target.once("drain", () => ws.resume());
        }
      }
    }

    let idleTimer = setTimeout(checkIdle, limits.idleMs);
    function checkIdle() {
      const quiet = Date.now() - lastInputAt;
      if (quiet >= limits.idleMs) finish(CLOSE.IDLE, "idle");
      else idleTimer = setTimeout(checkIdle, limits.idleMs - quiet);
    }

    // A half-open or vanished browser never answers a ping.
    const pingTimer = setInterval(() => {
      if (ws.readyState !== ws.OPEN) return;
      ws.ping();
      pongDeadline ??= setTimeout(pongOverdue, limits.pongTimeoutMs);
    }, limits.pingIntervalMs);
    function pongOverdue() {
      pongDeadline = undefined;
      // While the browser drains a full queue, a ping waits behind megabytes: the slow-client rule decides.
      if (paused) pongDeadline = setTimeout(pongOverdue, limits.pongTimeoutMs);
      else finish(CLOSE.PONG_TIMEOUT, "no pong");
    }
    ws.on("pong", () => {
      clearTimeout(pongDeadline);
      pongDeadline = undefined;
    });

    /** Backpressure: stop reading the target until the browser drains; cut a browser that does not. */
    function waitForDrain() {
      paused = true;
      target?.pause();
      let fullSince = Date.now();
      drainPoll = setInterval(() => {
        const queued = ws.bufferedAmount;
        if (queued < limits.sendHighWaterBytes / 4) {
          clearInterval(drainPoll);
          paused = false;
          target?.resume();
        } else if (queued <= limits.sendHighWaterBytes) {
          fullSince = Date.now();  // draining, however slowly
        } else if (Date.now() - fullSince > limits.slowClientMs) {
          finish(CLOSE.SLOW_CLIENT, "client not reading");
        }
      }, DRAIN_POLL_MS);
    }

    function attach(t: StreamTarget) {
      opened = t;
      handshakeTimer = setTimeout(() => finish(CLOSE.HANDSHAKE_TIMEOUT, `${stream.name} handshake timeout`), limits.handshakeMs);
      const sock = connect(t.path);
      target = sock;
      sock.on("data", (chunk: Buffer) => {
        ws.send(chunk);
        if (!watch.settled) {
          watch.fromTarget(chunk);
          toTarget();  // client bytes that waited for this answer of the target
        }
        if (!paused && !closed && ws.bufferedAmount > limits.sendHighWaterBytes) waitForDrain();
      });
      // When what serves the stream ended by itself (a bridge that crashed, a session logged off),
      // the console says why; a moment is given for its exit to be known.
      const gone = (fallback: string) => {
        if (closed) return;
        if (!t.ended) return finish(CLOSE.DISPLAY_GONE, fallback);
        let timer: NodeJS.Timeout | undefined;
        void Promise.race([t.ended, new Promise<string>((r) => { timer = setTimeout(() => r(fallback), ENDED_WAIT_MS); })])
          .then((why) => { clearTimeout(timer); finish(CLOSE.DISPLAY_GONE, why); });
      };
      sock.on("error", () => gone("display unavailable"));
      sock.on("close", () => gone("display closed"));
      toTarget();
    }
    stream.open(vmId, opts.log, { attach: shadow !== undefined }).then(
      (t) => { if (closed) t.release(); else attach(t); },
      (e: Error) => finish(CLOSE.DISPLAY_GONE, e.message),
    );
    ws.on("message", (data: Buffer, isBinary: boolean) => {
      if (closed) return;
      if (!isBinary) return finish(1003, "binary frames only");
      if (!messages.take(1)) return finish(CLOSE.RATE_LIMITED, "rate limit: messages");
      if (!bytes.take(data.length)) return finish(CLOSE.RATE_LIMITED, "rate limit: bytes");
      // The watch reads the bytes first, and the target gets only what it has read: a client that
      // does not speak the protocol never reaches it.
      if (watch.fromClient(data)) lastInputAt = Date.now();
      if (closed) return;
      toTarget();
    });
    ws.on("close", () => finish(1000, "client closed"));
    ws.on("error", () => finish(1011, "socket error"));
  }

  /** Closes every console matching `match` with `code`; returns how many. */
  function closeWhere(match: (c: OpenConsole) => boolean, code: number, reason: string): number {
    const doomed = [...consoles].filter(match);
    for (const c of doomed) c.finish(code, reason);
    return doomed.length;
  }

  return {
    /** Takes a WebSocket upgrade for consoles of `protocol` (the path it came on says which). */
    handleUpgrade(req: IncomingMessage, socket: Duplex, head: Buffer, protocol: keyof StreamProtocols = "vnc") {
      wss.handleUpgrade(req, socket, head, (ws) => wss.emit("connection", ws, req, protocol));
    },
    activeConnections: () => consoles.size,
    /** The VMs that have a console open here now. */
    consoleVms: (): string[] => [...new Set([...consoles].map((c) => c.vmId))],
    /** The VM left running/paused here (stopped, saved, deleted): its consoles close at once. */
    closeVm: (vmId: string, reason = "vm stopped") => closeWhere((c) => c.vmId === vmId, CLOSE.VM_STOPPED, reason),
    /** The users who lost access (the portal's list, replacing the previous one): their consoles close, new ones are refused. */
    revokeUsers(userIds: Iterable<string>): number {
      admission.setRevoked(userIds);
      return closeWhere((c) => admission.isRevoked(c.userId), CLOSE.REVOKED, "access revoked");
    },
    /** Seat sessions and shadow grants that ended (the portal's list, replacing the previous one): their consoles close with the reason ("continued at seat B"). */
    endSeatSessions(ended: Iterable<{ id: string; reason: string }>): number {
      admission.setEndedSeatSessions(ended);
      let n = 0;
      for (const c of [...consoles]) {
        const why = admission.seatSessionEnded(c.seatSession) ?? admission.seatSessionEnded(c.shadow);
        if (why !== null) { c.finish(CLOSE.SEAT_SESSION_ENDED, why); n++; }
      }
      return n;
    },
    /** Who may use which VM changed (a fresh console-access answer): consoles of users who lost their VM close. */
    recheckAccess(): number {
      return closeWhere((c) => opts.mayOpen(c.vmId, c.userId) === "denied", CLOSE.REVOKED, "access revoked");
    },
    close() {
      closeWhere(() => true, 1001, "node shutting down");
      wss.close();
    },
  };
}
