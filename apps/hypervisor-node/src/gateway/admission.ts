// The one door of every node endpoint a browser reaches (console, RDP, thumbnails; later
// node-to-node migration): a portal-signed, short-lived capability token, checked in one place for
// its signature and lifetime, its protocol, this node, the user's standing (revoked users, the
// portal's console-access table) and, for single-use protocols, replay. The endpoint then maps a
// refusal to its own wire (a WebSocket close code, an HTTP status). docs/console-security.md.
import { ReplayGuard, verifyConsoleToken, type ConsoleClaims } from "@vdi/node-protocol/capability-token";
import { portalKey } from "../lib/portal-key.ts";
import type { AccessVerdict } from "./console-access.ts";

export type Protocol = ConsoleClaims["proto"];

interface ProtocolRule {
  /** What its tokens are called in a refusal. */
  noun: string;
  /** A token opens one session (a console); reusable ones only read (a thumbnail). */
  singleUse: boolean;
}

/** One row per protocol an endpoint admits. */
const PROTOCOLS: Record<Protocol, ProtocolRule> = {
  vnc: { noun: "console", singleUse: true },
  rdp: { noun: "RDP", singleUse: true },
  thumb: { noun: "thumbnail", singleUse: false },
};

export type Refusal = "not-ready" | "bad-token" | "wrong-protocol" | "wrong-target" | "revoked" | "forbidden" | "access-unknown" | "replayed" | "session-ended";

export type AdmitResult =
  | { ok: true; claims: ConsoleClaims; /** Spends a single-use token; false when it was spent already. */ consume(): boolean }
  | { ok: false; refusal: Refusal; reason: string };

export interface AdmissionOptions {
  nodeId: () => string | null;
  publicKeyPem: () => string | null;
  /** May this user use this VM (console-access.ts)? "unknown" is refused too, after one refresh. */
  mayOpen: (vmId: string, userId: string) => AccessVerdict;
  /** Asks the portal again at once: a VM created a moment ago is not in the last answer yet. */
  refreshAccess?: () => Promise<void>;
  /** How long a token for a VM the last answer did not list waits for the portal's next one. */
  accessWaitMs?: number;
}

export interface Admission {
  admit(token: string, protocol: Protocol): Promise<AdmitResult>;
  /** Users the portal says lost access; replaced by each sync reply. */
  setRevoked(userIds: Iterable<string>): void;
  isRevoked(userId: string): boolean;
  /** Seat sessions the portal says ended, with why; replaced by each sync reply. */
  setEndedSeatSessions(ended: Iterable<{ id: string; reason: string }>): void;
  /** Why this seat session ended, or null while it is open. */
  seatSessionEnded(sessionId: string | undefined): string | null;
}

export function createAdmission(opts: AdmissionOptions): Admission {
  const replay = new ReplayGuard();
  const key = portalKey(opts.publicKeyPem);
  let revoked: ReadonlySet<string> = new Set();
  let endedSessions: ReadonlyMap<string, string> = new Map();
  const refuse = (refusal: Refusal, reason: string): AdmitResult => ({ ok: false, refusal, reason });

  async function verdictOf(vmId: string, userId: string): Promise<AccessVerdict> {
    const first = opts.mayOpen(vmId, userId);
    if (first === "allowed" || !opts.refreshAccess) return first;
    // A VM made a moment ago (a microVM is up in a quarter of a second), or one handed to this user
    // a moment ago (a pool desktop, a share): the portal signed the token, so ask once more, briefly.
    // (A request already in flight may predate the change: then one more.)
    const ask = async () => {
      await opts.refreshAccess!();
      if (opts.mayOpen(vmId, userId) !== "allowed") await opts.refreshAccess!();
    };
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([ask().catch(() => undefined), new Promise((r) => { timer = setTimeout(r, opts.accessWaitMs ?? 3_000); })]);
    clearTimeout(timer);
    return opts.mayOpen(vmId, userId);
  }

  return {
    async admit(token, protocol) {
      const pub = key();
      const nodeId = opts.nodeId();
      if (!pub || !nodeId) return refuse("not-ready", "node not registered yet");
      const v = verifyConsoleToken(token, pub);
      if (!v.ok) return refuse("bad-token", `invalid token: ${v.reason}`);
      // A thumbnail token is reusable and read-only: it must never open an interactive console.
      if (v.claims.proto !== protocol) return refuse("wrong-protocol", `not a ${PROTOCOLS[protocol].noun} token`);
      if (v.claims.node !== nodeId) return refuse("wrong-target", "token is for another node");
      if (revoked.has(v.claims.user)) return refuse("revoked", "access revoked");
      // A seat session's console, or a helpdesk shadow of it (its grant), that ended opens nothing.
      const ended = (v.claims.ss === undefined ? undefined : endedSessions.get(v.claims.ss)) ?? (v.claims.sh === undefined ? undefined : endedSessions.get(v.claims.sh));
      if (ended !== undefined) return refuse("session-ended", ended);
      // The portal signed it, but the portal also says who may use this VM: a token naming anyone
      // else (a bug, a stale grant, a key used where it should not be) opens nothing.
      const verdict = await verdictOf(v.claims.vm, v.claims.user);
      if (verdict === "unknown") return refuse("access-unknown", "console access for this VM not known yet");
      if (verdict !== "allowed") return refuse("forbidden", "user may not use this VM");
      if (revoked.has(v.claims.user)) return refuse("revoked", "access revoked");  // revoked while we waited
      const claims = v.claims;
      return { ok: true, claims, consume: () => !PROTOCOLS[protocol].singleUse || replay.claim(claims.jti, claims.exp) };
    },
    setRevoked(userIds) {
      revoked = new Set(userIds);
    },
    isRevoked: (userId) => revoked.has(userId),
    setEndedSeatSessions(ended) {
      endedSessions = new Map([...ended].map((e) => [e.id, e.reason]));
    },
    seatSessionEnded: (sessionId) => (sessionId === undefined ? null : endedSessions.get(sessionId) ?? null),
  };
}
