// What a protocol adds to a console stream the gateway relays. The WebSocket endpoint
// (console-gateway.ts: Origin, admission, limits, ping, backpressure, caps per VM) knows no
// protocol; each protocol it serves is one row of a table, made by its own room (rfb/rfb-stream.ts:
// the VM's VNC socket; rdp/rdp-stream.ts: a bridge started for the session re-serves RDP as RFB).
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

/**
 * Which of the client's input reaches the target: "all"; "control" (a helpdesk shadow the user
 * let in: keys, pointer and clipboard, but never a resize or a power action of the session it
 * watches); "none" (view only).
 */
export type InputPolicy = "all" | "control" | "none";

export interface OpenOptions {
  /** Join what already serves the VM's session (a shadow watches the user's own), never start one. */
  attach?: boolean;
}

/** What serves one connection: a unix socket, and what ends it. */
export interface StreamTarget {
  path: string;
  /** The connection ended: what was started for it stops. */
  release(): void;
  /** Resolves, when what serves the connection ends by itself, with why (said to the user). */
  ended?: Promise<string>;
}

/** Refused before the token is spent: the protocol cannot serve this VM here now. */
export class TargetUnavailable extends Error {}

export interface StreamProtocol {
  /** The protocol's name in what a console is closed with ("RFB handshake timeout"). */
  readonly name: string;
  /** Why `vmId` cannot be served in this protocol here now, or null when it can (checked before the token is spent). */
  unavailable(vmId: string): string | null;
  /** Opens what serves one connection to `vmId`; rejects with an Error whose message the user reads. */
  open(vmId: string, log: (msg: string) => void, opts?: OpenOptions): Promise<StreamTarget>;
  /** A watch for one connection to `vmId`; `policy.input` says what of the client's input passes. */
  watch(vmId: string, events: StreamEvents, policy?: { input: InputPolicy }): StreamWatch;
}

/** The protocols a gateway relays (thumbnails are served elsewhere, as HTTP). */
export type StreamProtocols = Partial<Record<Exclude<Protocol, "thumb">, StreamProtocol>>;
