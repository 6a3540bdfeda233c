// What one console connection may do: how fast the browser may send, how long it may stay quiet,
// and how long the gateway waits for a handshake, a pong or a drain. docs/console-security.md.

export interface ConsoleLimits {
  /** Browser → node WebSocket messages per second, sustained, and the burst above that rate. */
  messagesPerSecond: number;
  messageBurst: number;
  /** Browser → node bytes per second, sustained, and the burst (at least one largest message). */
  bytesPerSecond: number;
  byteBurst: number;
  /** The largest browser message (RFB client messages are small; this leaves room for clipboard text). */
  maxMessageBytes: number;
  /** No user input (keys, pointer, clipboard, resize) for this long closes the console. */
  idleMs: number;
  /** The RFB handshake (version → ServerInit) must be over within this long. */
  handshakeMs: number;
  /** A WebSocket ping this often; a ping unanswered for pongTimeoutMs closes the connection. */
  pingIntervalMs: number;
  pongTimeoutMs: number;
  /** Above this much queued for the browser, reading the display pauses (backpressure). */
  sendHighWaterBytes: number;
  /** A browser that keeps more than sendHighWaterBytes unread for this long is cut. */
  slowClientMs: number;
  /** After a close frame, how long the browser has to answer before its socket is dropped. */
  closeGraceMs: number;
  /** Consoles open on one VM at once (QEMU's VNC server takes 32 viewers; thumbnails need some). */
  consolesPerVm: number;
  /** Consoles one user may have open on one VM; the owner's share is kept free of others. */
  consolesPerUser: number;
}

export const DEFAULT_CONSOLE_LIMITS: Readonly<ConsoleLimits> = {
  messagesPerSecond: 200,
  messageBurst: 400,
  bytesPerSecond: 4 * 1024 * 1024,
  byteBurst: 4 * 1024 * 1024,
  maxMessageBytes: 1024 * 1024,
  idleMs: 30 * 60_000,
  handshakeMs: 10_000,
  pingIntervalMs: 15_000,
  pongTimeoutMs: 30_000,
  sendHighWaterBytes: 4 * 1024 * 1024,
  slowClientMs: 10_000,
  closeGraceMs: 2_000,
  consolesPerVm: 16,
  consolesPerUser: 4,
};

export function consoleLimits(overrides: Partial<ConsoleLimits> = {}): ConsoleLimits {
  const limits = { ...DEFAULT_CONSOLE_LIMITS, ...overrides };
  for (const [name, value] of Object.entries(limits)) {
    if (!Number.isFinite(value) || value <= 0) throw new RangeError(`console limit ${name} must be a positive number, not ${value}`);
  }
  if (limits.consolesPerUser >= limits.consolesPerVm) throw new RangeError("console limit consolesPerUser must be below consolesPerVm (the owner's share is kept free)");
  if (limits.byteBurst < limits.maxMessageBytes) throw new RangeError("console limit byteBurst must hold at least one message of maxMessageBytes");
  return limits;
}

/** A token bucket: `rate` tokens a second, at most `burst` saved up. */
export class TokenBucket {
  private tokens: number;
  private last: number;

  constructor(private readonly rate: number, private readonly burst: number, private readonly now: () => number = Date.now) {
    this.tokens = burst;
    this.last = now();
  }

  /** Takes `n` tokens if there are that many; false (and nothing taken) otherwise. */
  take(n: number): boolean {
    const t = this.now();
    this.tokens = Math.min(this.burst, this.tokens + ((t - this.last) * this.rate) / 1000);
    this.last = t;
    if (this.tokens < n) return false;
    this.tokens -= n;
    return true;
  }
}
