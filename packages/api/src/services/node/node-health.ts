// Whether a node is up, and what it can run, from its last sync.
import { engineNamed, nodeCapabilitiesSchema, type NodeCapabilities } from "@vdi/node-protocol";
import { stalledMsSince } from "../../lib/portal-lag.ts";

export { nodeCapabilitiesSchema, type NodeCapabilities } from "@vdi/node-protocol";

export function parseCapabilities(json: string): NodeCapabilities {
  try {
    const caps = nodeCapabilitiesSchema.parse(JSON.parse(json));
    // A node that reported before the engine rename names our VMM "kvm".
    return { ...caps, engines: Object.fromEntries(Object.entries(caps.engines).map(([name, e]) => [engineNamed(name) ?? name, e])) };
  } catch {
    return { engines: {}, images: [] };
  }
}

// Node requests this process has authenticated but not yet finished, by arrival time: a heartbeat
// queued behind user mutations (SQLite has one writing connection) has still been heard, from the
// moment it arrived until its own write of lastSeenAt lands. Once a request is done its arrival is
// forgotten and the row speaks alone, so a node that has gone quiet is judged by what it last
// wrote, never by an old request. On globalThis: one table per process, whatever bundle loads this
// module. Several portals (PostgreSQL) each know their own arrivals; the row is what they share.
const HEARD_KEY = Symbol.for("vdi.node-heard-in-flight");
const inFlight = ((globalThis as unknown as Record<symbol, Map<string, number[]> | undefined>)[HEARD_KEY] ??= new Map<string, number[]>());

/**
 * Records that a node's authenticated request arrived now (before any of its work is queued);
 * call the returned function when that request is done, whatever its outcome.
 */
export function noteNodeHeard(nodeId: string, at = Date.now()): () => void {
  const list = inFlight.get(nodeId) ?? [];
  list.push(at);
  inFlight.set(nodeId, list);
  let done = false;
  return () => {
    if (done) return;
    done = true;
    const cur = inFlight.get(nodeId);
    if (!cur) return;
    const i = cur.indexOf(at);
    if (i >= 0) cur.splice(i, 1);
    if (cur.length === 0) inFlight.delete(nodeId);
  };
}

/** The last time this node was heard from: its row's lastSeenAt, or a later arrival still in flight here. */
export function lastHeardAt(node: { id?: string; lastSeenAt: Date | null }): Date | null {
  const list = node.id === undefined ? undefined : inFlight.get(node.id);
  const arrived = list && list.length ? Math.max(...list) : undefined;
  if (arrived === undefined) return node.lastSeenAt;
  return node.lastSeenAt && node.lastSeenAt.getTime() >= arrived ? node.lastSeenAt : new Date(arrived);
}

/**
 * Up while its silence, less the time this portal itself stood still since it last heard from the
 * node, is under the threshold: a heartbeat that waited behind our own busy event loop (a burst of
 * user requests, a long query) is our lag, and must not turn every action into "node down".
 */
export function isNodeUp(node: { id?: string; lastSeenAt: Date | null }, downAfterMs: number, now = Date.now(), stalled = stalledMsSince): boolean {
  const lastSeenAt = lastHeardAt(node);
  if (lastSeenAt === null) return false;
  const seen = lastSeenAt.getTime();
  const silence = now - seen;
  return silence < downAfterMs || silence - stalled(seen, now) < downAfterMs;
}

export function describeLastSeen(node: { id?: string; name: string; lastSeenAt: Date | null }, now = Date.now()): string {
  const lastSeenAt = lastHeardAt(node);
  if (!lastSeenAt) return `node ${node.name} has never reported`;
  const s = Math.round((now - lastSeenAt.getTime()) / 1000);
  return `node ${node.name} last seen ${s < 120 ? `${s} s` : `${Math.round(s / 60)} min`} ago`;
}
