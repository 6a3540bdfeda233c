// Whether a node is up, and what it can run, from its last sync.
import { z } from "zod";

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

export function isNodeUp(node: { lastSeenAt: Date | null }, downAfterMs: number, now = Date.now()): boolean {
  return node.lastSeenAt !== null && now - node.lastSeenAt.getTime() < downAfterMs;
}

export function describeLastSeen(node: { name: string; lastSeenAt: Date | null }, now = Date.now()): string {
  if (!node.lastSeenAt) return `node ${node.name} has never reported`;
  const s = Math.round((now - node.lastSeenAt.getTime()) / 1000);
  return `node ${node.name} last seen ${s < 120 ? `${s} s` : `${Math.round(s / 60)} min`} ago`;
}
