// Whether a node is up, and what it can run, from its last sync.
import { z } from "zod";
import { stalledMsSince } from "../../lib/portal-lag.ts";

export const nodeCapabilitiesSchema = z.object({
  engines: z.record(z.string().max(32), z.object({
    available: z.boolean(),
    version: z.string().max(200).optional(),
    accel: z.string().max(32).optional(),
    reason: z.string().max(500).optional(),
  })).refine((engines) => Object.keys(engines).length <= 16, "At most 16 engines").default({}),
  images: z.array(z.string().max(64)).max(1000).default([]),
});
export type NodeCapabilities = z.infer<typeof nodeCapabilitiesSchema>;

export function parseCapabilities(json: string): NodeCapabilities {
  try {
    return nodeCapabilitiesSchema.parse(JSON.parse(json));
  } catch {
    return { engines: {}, images: [] };
  }
}

/**
 * Up while its silence, less the time this portal itself stood still since it last heard from the
 * node, is under the threshold: a heartbeat that waited behind our own busy event loop (a burst of
 * user requests, a long query) is our lag, and must not turn every action into "node down".
 */
export function isNodeUp(node: { lastSeenAt: Date | null }, downAfterMs: number, now = Date.now(), stalled = stalledMsSince): boolean {
  if (node.lastSeenAt === null) return false;
  const seen = node.lastSeenAt.getTime();
  const silence = now - seen;
  return silence < downAfterMs || silence - stalled(seen, now) < downAfterMs;
}

export function describeLastSeen(node: { name: string; lastSeenAt: Date | null }, now = Date.now()): string {
  if (!node.lastSeenAt) return `node ${node.name} has never reported`;
  const s = Math.round((now - node.lastSeenAt.getTime()) / 1000);
  return `node ${node.name} last seen ${s < 120 ? `${s} s` : `${Math.round(s / 60)} min`} ago`;
}
