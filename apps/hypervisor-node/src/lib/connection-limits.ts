// The node's own HTTP/WebSocket server within bounds: so many connections in all and per address,
// a few seconds to finish a request's headers, idle sockets closed, and file descriptors kept for
// the agent's own work (QMP, VNC, pid files, disks), so a connection flood never starves it.
import { readFileSync } from "node:fs";
import type { Server } from "node:http";
import type { Socket } from "node:net";

export interface ConnectionLimits {
  /** Connections open at once, all addresses together (Node refuses the next at accept). */
  maxConnections: number;
  /** Connections open at once from one remote address. */
  maxPerAddress: number;
  /** A request's headers (a WebSocket upgrade's included) must be in within this. */
  headersTimeoutMs: number;
  /** A socket that is not a console and says nothing for this long is closed. */
  idleMs: number;
  /** File descriptors kept free for the agent's own work. */
  reservedFds: number;
}

/** The soft limit on open files of this process (Node raises it to the hard limit at start-up). */
export function openFileLimit(limitsText?: string): number {
  try {
    const text = limitsText ?? readFileSync("/proc/self/limits", "utf8");
    const m = /^Max open files\s+(\d+|unlimited)/m.exec(text);
    if (m && m[1] !== "unlimited") return Number(m[1]);
  } catch { /* not Linux: fall through */ }
  return 1024;
}

/**
 * Defaults from the open-file limit: a quarter of it (at least 128) stays free for the agent, and
 * each connection may take two descriptors (a console holds its VM's VNC socket too).
 */
export function connectionLimits(fdLimit: number, set: { maxConnections?: number | undefined; maxPerAddress?: number | undefined } = {}): ConnectionLimits {
  const reservedFds = Math.max(128, Math.floor(fdLimit / 4));
  const fit = Math.max(16, Math.floor((fdLimit - reservedFds) / 2));
  const maxConnections = Math.min(set.maxConnections ?? 4096, fit);
  return {
    maxConnections,
    maxPerAddress: Math.min(set.maxPerAddress ?? 256, maxConnections),
    headersTimeoutMs: 5_000,
    idleMs: 30_000,
    reservedFds,
  };
}

/**
 * Applies the limits to `server`; returns live counts for /healthz. A connection that has not yet
 * sent a whole request (headers) is "pending": when the server is full, the oldest pending one is
 * closed to make room, so a flood of half-sent upgrades cannot lock out a client that speaks at
 * once (a browser's upgrade, /healthz). An address over its own cap gets nothing new. Node's
 * `maxConnections`, set a little higher, is the backstop: an excess socket is closed right after
 * accept, so the kernel's backlog never fills with sockets nobody reads (no CLOSE-WAIT pile-up).
 */
export function limitConnections(server: Server, limits: ConnectionLimits, log: (msg: string) => void) {
  const perAddress = new Map<string, number>();
  const pending = new Set<Socket>();  // insertion order: oldest first
  let open = 0;
  let refusedTotal = 0;
  let refusedAddress = 0;
  let evicted = 0;
  let lastLog = 0;
  const note = () => {
    if (Date.now() - lastLog < 5_000) return;  // a flood is logged every 5 s, not per connection
    lastLog = Date.now();
    log(`connection limits: ${open} open; so far ${evicted} half-sent requests closed to make room, ${refusedTotal} refused over the total (${limits.maxConnections}), ${refusedAddress} over the per-address cap (${limits.maxPerAddress})`);
  };
  server.maxConnections = limits.maxConnections + 16;
  server.headersTimeout = limits.headersTimeoutMs;
  server.requestTimeout = limits.headersTimeoutMs * 2;
  server.keepAliveTimeout = 5_000;
  // Idle HTTP sockets (keep-alive, a client that connects and says nothing) go; WebSocket consoles
  // clear this timer when they take the socket over (ws sets its own keep-alive with pings).
  server.setTimeout(limits.idleMs, (socket: Socket) => socket.destroy());
  server.on("drop", () => {
    refusedTotal++;
    note();
  });
  const spoke = (socket: Socket) => pending.delete(socket);
  server.on("request", (req: { socket: Socket }) => spoke(req.socket));
  server.on("upgrade", (req: { socket: Socket }) => spoke(req.socket));
  server.on("connection", (socket: Socket) => {
    const addr = socket.remoteAddress ?? "?";
    const n = (perAddress.get(addr) ?? 0) + 1;
    if (n > limits.maxPerAddress) {
      refusedAddress++;
      note();
      socket.destroy();
      return;
    }
    if (open >= limits.maxConnections) {
      const oldest = pending.values().next();
      if (oldest.done) {
        refusedTotal++;
        note();
        socket.destroy();
        return;
      }
      release(oldest.value);
      oldest.value.destroy();
      evicted++;
      note();
    }
    open++;
    perAddress.set(addr, n);
    pending.add(socket);
    addressOf.set(socket, addr);
    socket.once("close", () => release(socket));
  });
  /** Gives back a socket's counts, once (at eviction, or when it closes). */
  const addressOf = new Map<Socket, string>();
  function release(socket: Socket) {
    const addr = addressOf.get(socket);
    if (addr === undefined) return;
    addressOf.delete(socket);
    pending.delete(socket);
    open--;
    const left = (perAddress.get(addr) ?? 1) - 1;
    if (left <= 0) perAddress.delete(addr);
    else perAddress.set(addr, left);
  }
  return {
    stats: () => ({ open, pending: pending.size, addresses: perAddress.size, evicted, refusedTotal, refusedAddress, maxConnections: limits.maxConnections, maxPerAddress: limits.maxPerAddress, reservedFds: limits.reservedFds }),
  };
}
