// What a protocol adds to a console stream the gateway relays. The WebSocket endpoint
// (console-gateway.ts: Origin, admission, limits, ping, backpressure, caps per VM) knows no
// protocol; each protocol it serves is one row of a table, made by its own room (rfb/ today; RDP
// re-served as RFB by a bridge, later, is another row with another target).
import type { Protocol } from "./admission.ts";

/** One connection's view of the stream: it reads both sides and decides what reaches the target. */
export interface StreamWatch {
  /** Reads the client's bytes; true when they carried the user's input (the idle timer). */
  fromClient(data: Buffer): boolean;
  /** The client's bytes the target may have now, in order; null when none wait. */
  takeForTarget(): Buffer | null;
  /** Reads the target's bytes while the protocol's opening is not done. */
  fromTarget(chunk: Buffer): void;
  /** The opening is done: the target's bytes need no more reading. */
  readonly settled: boolean;
}

export interface StreamEvents {
  /** The protocol's handshake completed (the handshake timer stops). */
  done(): void;
  /** The stream broke the protocol: the console closes with this reason. */
  fail(reason: string): void;
  log(msg: string): void;
}

export interface StreamProtocol {
  /** The protocol's name in what a console is closed with ("RFB handshake timeout"). */
  readonly name: string;
  /** The unix socket that serves `vmId` in this protocol here, or null when there is none. */
  target(vmId: string): string | null;
  /** A watch for one connection to `vmId`. */
  watch(vmId: string, events: StreamEvents): StreamWatch;
}

/** The protocols a gateway relays (thumbnails are served elsewhere, as HTTP). */
export type StreamProtocols = Partial<Record<Exclude<Protocol, "thumb">, StreamProtocol>>;
