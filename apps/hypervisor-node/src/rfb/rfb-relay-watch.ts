// Follows a relayed RFB conversation: the handshake on both sides (RFC 6143 §7.1–§7.3), so the
// gateway knows when it is over and refuses a client that does not speak RFB before its bytes
// reach the display; then the client's message boundaries (§7.5), so only user input (keys,
// pointer, clipboard, resize) counts against the idle timeout. The display gets the client's
// bytes only as the watch has read them (takeForDisplay), unchanged but for one: ClientInit's
// shared-flag is always 1, so no viewer can make the display drop the others (§7.3.1).
import { ByteQueue } from "./rfb-snapshot.ts";
import type { InputPolicy } from "../gateway/stream-protocol.ts";
import {
  CLIENT_INIT_LENGTH, CLIENT_INIT_SHARED, CLIENT_MESSAGE, PROTOCOL_VERSION_LENGTH, QEMU_AUDIO_OPERATION, QEMU_CLIENT_MESSAGE,
  SECURITY_RESULT_LENGTH, SECURITY_RESULT_OK, SECURITY_TYPE, SERVER_INIT_HEADER_LENGTH, VNC_AUTH_CHALLENGE_LENGTH,
} from "./rfb-constants.ts";

/**
 * A client says 12 + 1 + 16 + 1 bytes before ServerInit; this leaves room for one that sends its
 * first messages ahead. More waiting for the display is not RFB.
 */
export const MAX_CLIENT_HANDSHAKE_BYTES = 4096;
/** What the display may have queued ahead of the client during the handshake (the name is not kept). */
export const MAX_SERVER_HANDSHAKE_BYTES = 4096;
export const MAX_DESKTOP_NAME_LENGTH = 64 * 1024;

type Phase =
  | "serverVersion" | "clientVersion" | "securityTypes" | "securityChoice" | "vncAuthChallenge" | "vncAuthResponse"
  | "securityResult" | "clientInit" | "serverInit" | "serverName" | "done" | "refused" | "failed";

/** Every allowed step of the handshake; "failed" is reachable from anywhere. */
const TRANSITIONS: Record<Phase, readonly Phase[]> = {
  serverVersion: ["clientVersion"],
  clientVersion: ["securityTypes"],
  // RFB 3.3: the display picks the type; 3.7 and 3.8: it offers a list and the client picks.
  securityTypes: ["securityChoice", "vncAuthChallenge", "clientInit", "refused"],
  securityChoice: ["vncAuthChallenge", "securityResult", "clientInit"],
  vncAuthChallenge: ["vncAuthResponse"],
  vncAuthResponse: ["securityResult"],
  securityResult: ["clientInit", "refused"],
  clientInit: ["serverInit"],
  serverInit: ["serverName", "done"],
  serverName: ["done"],
  done: [],
  refused: [],
  failed: [],
};

/** Which side's bytes each phase reads. */
const READS: Partial<Record<Phase, "client" | "server">> = {
  serverVersion: "server", clientVersion: "client", securityTypes: "server", securityChoice: "client",
  vncAuthChallenge: "server", vncAuthResponse: "client", securityResult: "server", clientInit: "client",
  serverInit: "server", serverName: "server",
};

export interface RfbRelayEvents {
  /** ServerInit has passed: the console is up. */
  done(): void;
  /** The client (or the display) broke the protocol; the connection must close. */
  fail(reason: string): void;
}

export class RfbRelayWatch {
  private readonly client = new ByteQueue();
  private readonly server = new ByteQueue();
  private phase: Phase = "serverVersion";
  private serverMinor = 0;
  private minor = 0;
  private offered: number[] = [];
  private nameLeft = 0;
  private readonly messages = new RfbClientMessages();
  /** Client bytes read and cleared for the display, in order. */
  private readonly forDisplay: Buffer[] = [];
  error: string | null = null;
  /** The client's ClientInit asked for exclusive access (shared-flag 0); it was sent on as shared. */
  askedExclusive = false;

  /** `input`: what of the client's input reaches the display (a shadow's view-only console: none). */
  constructor(private readonly events: RfbRelayEvents, private readonly input: InputPolicy = "all") {}

  /** The handshake is over (done, refused by the display, or failed): only client messages are followed. */
  get settled(): boolean {
    return this.phase === "done" || this.phase === "refused" || this.phase === "failed";
  }

  get handshakeDone(): boolean {
    return this.phase === "done";
  }

  /** The client has sent a valid ProtocolVersion: until then nothing it says should reach the display. */
  get clientVersionAccepted(): boolean {
    return this.phase !== "serverVersion" && this.phase !== "clientVersion" && this.phase !== "failed";
  }

  /** Bytes held while waiting for the other side (bounded by the two MAX_*_HANDSHAKE_BYTES). */
  get buffered(): number {
    return this.client.length + this.server.length + this.messages.buffered;
  }

  /** The next client bytes the display may have (null when none is cleared yet). */
  takeForDisplay(): Buffer | null {
    if (this.forDisplay.length === 0) return null;
    return this.forDisplay.length === 1 ? this.forDisplay.pop()! : Buffer.concat(this.forDisplay.splice(0));
  }

  /** Feeds client bytes; returns whether they held user input (always true once framing is lost). */
  fromClient(chunk: Buffer): boolean {
    if (this.phase === "failed") return false;
    if (this.clientHandshakeOver()) return this.messagesOf(chunk);
    this.client.push(chunk);
    this.run();
    const input = this.clientMessagesQueued();
    if (!this.clientHandshakeOver() && this.client.length > MAX_CLIENT_HANDSHAKE_BYTES) this.fail("client sent too much during the RFB handshake");
    return input;
  }

  fromServer(chunk: Buffer): void {
    if (this.settled) return;
    this.server.push(chunk);
    this.run();
    this.clientMessagesQueued();
    if (!this.settled && this.server.length > MAX_SERVER_HANDSHAKE_BYTES) this.fail("display sent too much during the RFB handshake");
  }

  /** What the client sent after ClientInit (in the same chunk, or ahead of the display) is messages. */
  private clientMessagesQueued(): boolean {
    if (this.phase === "failed" || !this.clientHandshakeOver() || this.client.length === 0) return false;
    return this.messagesOf(this.client.take(this.client.length));
  }

  /** Client messages: all passed on, or only those the input policy lets through. */
  private messagesOf(chunk: Buffer): boolean {
    if (this.input === "all") {
      this.forDisplay.push(chunk);
      return this.messages.feed(chunk);
    }
    const drop = DROPPED[this.input];
    const input = this.messages.feed(chunk, { drop: (type, header) => drop.has(messageKind(type, header)), out: this.forDisplay });
    // What cannot be framed cannot be filtered: a view-only console that loses the framing closes.
    if (this.messages.lost) this.fail("unknown client message on a view-only console");
    return input;
  }

  private clientHandshakeOver(): boolean {
    return this.phase === "serverInit" || this.phase === "serverName" || this.phase === "done" || this.phase === "refused";
  }

  private fail(reason: string): void {
    if (this.phase === "failed") return;
    this.phase = "failed";
    this.error = reason;
    this.client.skip(this.client.length);
    this.server.skip(this.server.length);
    this.forDisplay.length = 0;
    this.events.fail(reason);
  }

  private to(next: Phase): void {
    if (!TRANSITIONS[this.phase].includes(next)) return this.fail(`internal: no transition ${this.phase} → ${next}`);
    this.phase = next;
    if (next === "done" || next === "refused") this.server.skip(this.server.length);
    if (next === "done") this.events.done();
  }

  private run(): void {
    while (!this.settled && this.step()) { /* parse as far as the bytes go */ }
  }

  /** Runs the parser of the current phase; false when it needs more bytes. */
  private step(): boolean {
    const side = READS[this.phase];
    const q = side === "client" ? this.client : this.server;
    switch (this.phase) {
      // §7.1.1 ProtocolVersion: the display offers, the client answers with the version both use.
      case "serverVersion": {
        if (q.length < PROTOCOL_VERSION_LENGTH) return false;
        const v = parseVersion(q.take(PROTOCOL_VERSION_LENGTH));
        if (!v || v.major !== 3 || v.minor < 3) return this.failed("display is not an RFB 3.x server");
        this.serverMinor = v.minor;
        this.to("clientVersion");
        return true;
      }
      case "clientVersion": {
        if (q.length < PROTOCOL_VERSION_LENGTH) return false;
        const bytes = q.take(PROTOCOL_VERSION_LENGTH);
        const v = parseVersion(bytes);
        if (!v || v.major !== 3 || ![3, 7, 8].includes(v.minor)) return this.failed("not an RFB client");
        if (v.minor > this.serverMinor) return this.failed(`client asked for RFB 3.${v.minor}; the display offers 3.${this.serverMinor}`);
        this.minor = v.minor;
        this.forDisplay.push(bytes);
        this.to("securityTypes");
        return true;
      }
      // §7.1.2 Security
      case "securityTypes": {
        if (this.minor === 3) {
          if (q.length < 4) return false;
          const type = q.take(4).readUInt32BE(0);
          if (type === SECURITY_TYPE.Invalid) this.to("refused");  // a reason follows; the display closes
          else if (type === SECURITY_TYPE.None) this.to("clientInit");
          else if (type === SECURITY_TYPE.VncAuthentication) this.to("vncAuthChallenge");
          else return this.failed(`display uses security type ${type}, which the gateway cannot follow`);
          return true;
        }
        if (q.length < 1) return false;
        const count = q.peek(1)[0]!;
        if (count === 0) {
          this.to("refused");
          return true;
        }
        if (q.length < 1 + count) return false;
        this.offered = [...q.take(1 + count).subarray(1)];
        this.to("securityChoice");
        return true;
      }
      case "securityChoice": {
        if (q.length < 1) return false;
        const choice = q.take(1);
        const type = choice[0]!;
        this.forDisplay.push(choice);
        if (!this.offered.includes(type)) return this.failed(`client chose security type ${type}, which the display did not offer`);
        if (type === SECURITY_TYPE.VncAuthentication) this.to("vncAuthChallenge");
        // §7.1.3: RFB 3.7 sends no SecurityResult for None.
        else if (type === SECURITY_TYPE.None) this.to(this.minor === 8 ? "securityResult" : "clientInit");
        else return this.failed(`security type ${type} is not supported through the gateway`);
        return true;
      }
      // §7.2.2 VNC Authentication
      case "vncAuthChallenge":
      case "vncAuthResponse": {
        if (q.length < VNC_AUTH_CHALLENGE_LENGTH) return false;
        const bytes = q.take(VNC_AUTH_CHALLENGE_LENGTH);
        if (this.phase === "vncAuthResponse") this.forDisplay.push(bytes);
        this.to(this.phase === "vncAuthChallenge" ? "vncAuthResponse" : "securityResult");
        return true;
      }
      case "securityResult": {
        if (q.length < SECURITY_RESULT_LENGTH) return false;
        const ok = q.take(SECURITY_RESULT_LENGTH).readUInt32BE(0) === SECURITY_RESULT_OK;
        this.to(ok ? "clientInit" : "refused");
        return true;
      }
      // §7.3 Initialisation
      case "clientInit": {
        if (q.length < CLIENT_INIT_LENGTH) return false;
        // §7.3.1 ClientInit: shared-flag 0 asks the display to disconnect every other viewer.
        this.askedExclusive = q.take(CLIENT_INIT_LENGTH)[0] === 0;
        this.forDisplay.push(Buffer.from([CLIENT_INIT_SHARED]));
        this.to("serverInit");
        return true;
      }
      case "serverInit": {
        if (q.length < SERVER_INIT_HEADER_LENGTH) return false;
        this.nameLeft = q.take(SERVER_INIT_HEADER_LENGTH).readUInt32BE(20);
        if (this.nameLeft > MAX_DESKTOP_NAME_LENGTH) return this.failed(`display sent a desktop name of ${this.nameLeft} bytes`);
        this.to(this.nameLeft > 0 ? "serverName" : "done");
        return true;
      }
      case "serverName": {
        const dropped = q.skip(this.nameLeft);
        this.nameLeft -= dropped;
        if (this.nameLeft === 0) this.to("done");
        return dropped > 0;
      }
      default:
        return false;
    }
  }

  /** fail() for parsers: returns true, since failing is progress (the loop stops on settled). */
  private failed(reason: string): boolean {
    this.fail(reason);
    return true;
  }
}

function parseVersion(bytes: Buffer): { major: number; minor: number } | null {
  const m = /^RFB (\d{3})\.(\d{3})\n$/.exec(bytes.toString("latin1"));
  return m ? { major: Number(m[1]), minor: Number(m[2]) } : null;
}

/** Client messages that a person caused; the rest (update requests, encodings) a viewer sends by itself. */
const INPUT_MESSAGES: ReadonlySet<number> = new Set([
  CLIENT_MESSAGE.KeyEvent, CLIENT_MESSAGE.PointerEvent, CLIENT_MESSAGE.ClientCutText, CLIENT_MESSAGE.SetDesktopSize, CLIENT_MESSAGE.Gii,
]);

/** A message's kind for the input policies: its type, or for QEMU's messages "qemu-key"/"qemu". */
function messageKind(type: number, header: Buffer): number | "qemu-key" {
  return type === CLIENT_MESSAGE.Qemu && header[1] === QEMU_CLIENT_MESSAGE.ExtendedKeyEvent ? "qemu-key" : type;
}

/** What each input policy keeps from the display; a power action (Xvp) or a resize never comes from a shadow. */
const DROPPED: Record<Exclude<InputPolicy, "all">, ReadonlySet<number | "qemu-key">> = {
  none: new Set([...INPUT_MESSAGES, CLIENT_MESSAGE.Xvp, "qemu-key" as const]),
  control: new Set([CLIENT_MESSAGE.SetDesktopSize, CLIENT_MESSAGE.Xvp]),
};

/** How many header bytes decide a message's length. */
const HEADER_LENGTH: Readonly<Record<number, number>> = {
  [CLIENT_MESSAGE.SetPixelFormat]: 20,
  [CLIENT_MESSAGE.SetEncodings]: 4,
  [CLIENT_MESSAGE.FramebufferUpdateRequest]: 10,
  [CLIENT_MESSAGE.KeyEvent]: 8,
  [CLIENT_MESSAGE.PointerEvent]: 6,
  [CLIENT_MESSAGE.ClientCutText]: 8,
  [CLIENT_MESSAGE.EnableContinuousUpdates]: 10,
  [CLIENT_MESSAGE.ClientFence]: 9,
  [CLIENT_MESSAGE.Xvp]: 4,
  [CLIENT_MESSAGE.SetDesktopSize]: 8,
  [CLIENT_MESSAGE.Gii]: 4,
  [CLIENT_MESSAGE.Qemu]: 4,
};

/**
 * Client message boundaries (§7.5), holding a header at most, never a body. A type it does not
 * know loses the framing; from then on every byte counts as input, so idle never cuts a client
 * by mistake.
 */
export class RfbClientMessages {
  private readonly header = new ByteQueue();
  private bodyLeft = 0;
  private bodyIsInput = false;
  private bodyDropped = false;
  lost = false;

  get buffered(): number {
    return this.header.length;
  }

  /**
   * Returns whether the bytes held (part of) a user-input message. With `filter`, the bytes of
   * each message that `drop` does not name go to `out` (a header once it is whole), the rest nowhere.
   */
  feed(chunk: Buffer, filter?: { drop: (type: number, header: Buffer) => boolean; out: Buffer[] }): boolean {
    if (this.lost) return chunk.length > 0;
    let input = false;
    let at = 0;
    while (at < chunk.length) {
      if (this.bodyLeft > 0) {
        const n = Math.min(this.bodyLeft, chunk.length - at);
        if (filter && !this.bodyDropped) filter.out.push(chunk.subarray(at, at + n));
        this.bodyLeft -= n;
        at += n;
        input ||= this.bodyIsInput;
        continue;
      }
      const type = this.header.length > 0 ? this.header.peek(1)[0]! : chunk[at]!;
      const need = HEADER_LENGTH[type];
      if (need === undefined) return this.lose();
      const n = Math.min(need - this.header.length, chunk.length - at);
      this.header.push(Buffer.from(chunk.subarray(at, at + n)));  // a copy: never pin the whole chunk
      at += n;
      if (this.header.length < need) break;
      const header = this.header.take(need);
      const length = messageLength(type, header);
      if (length === null) return this.lose();
      const isInput = INPUT_MESSAGES.has(type) || (type === CLIENT_MESSAGE.Qemu && header[1] === QEMU_CLIENT_MESSAGE.ExtendedKeyEvent);
      input ||= isInput;
      this.bodyLeft = length - need;
      this.bodyIsInput = isInput;
      this.bodyDropped = filter ? filter.drop(type, header) : false;
      if (filter && !this.bodyDropped) filter.out.push(header);
    }
    return input;
  }

  private lose(): boolean {
    this.lost = true;
    this.header.skip(this.header.length);
    return true;
  }
}

/** A whole message's length from its complete header; null for a message this scanner does not know. */
function messageLength(type: number, h: Buffer): number | null {
  const need = h.length;
  switch (type) {
    case CLIENT_MESSAGE.SetEncodings: return need + 4 * h.readUInt16BE(2);
    // The extended clipboard sends a negative length (its absolute value is the size).
    case CLIENT_MESSAGE.ClientCutText: return need + Math.abs(h.readInt32BE(4));
    case CLIENT_MESSAGE.ClientFence: return need + h[8]!;
    case CLIENT_MESSAGE.SetDesktopSize: return need + 16 * h[6]!;
    // gii: the high bit of the second byte says big-endian.
    case CLIENT_MESSAGE.Gii: return need + ((h[1]! & 0x80) ? h.readUInt16BE(2) : h.readUInt16LE(2));
    case CLIENT_MESSAGE.Qemu: {
      if (h[1] === QEMU_CLIENT_MESSAGE.ExtendedKeyEvent) return 12;
      if (h[1] !== QEMU_CLIENT_MESSAGE.Audio) return null;
      const op = h.readUInt16BE(2);
      if (op === QEMU_AUDIO_OPERATION.SetFormat) return 10;
      return op === QEMU_AUDIO_OPERATION.Enable || op === QEMU_AUDIO_OPERATION.Disable ? 4 : null;
    }
    default: return need;
  }
}
