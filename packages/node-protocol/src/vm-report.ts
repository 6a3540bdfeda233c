// What a node tells the portal: who it is, what it can run, and the state of each of its VMs.
import { z } from "zod";
import { NODE_VM_STATES } from "./vm-states.ts";

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

export const opReportSchema = z.object({
  id: z.string().min(1).max(64),
  status: z.enum(["running", "succeeded", "failed"]),
  progress: z.number().int().min(0).max(100),
  error: z.string().max(2000).nullish(),
  bytes: z.number().int().min(0).max(2 ** 50).nullish(),  // what a snapshot takes on disk
});
export type OpReport = z.infer<typeof opReportSchema>;

export const vmReportSchema = z.object({
  id: z.string().min(1).max(64),
  state: z.enum(NODE_VM_STATES),
  reason: z.string().max(1000).nullish(),
  op: opReportSchema.nullish(),
});
export type VmReport = z.infer<typeof vmReportSchema>;

const endpointUrl = z.string().url().max(500);
const consoleUrl = z.string().max(500).regex(/^wss?:\/\//, "consoleUrl must be ws:// or wss://");

export const registerInputSchema = z.object({
  joinToken: z.string().min(1).max(256),
  name: z.string().max(63).regex(/^[a-z0-9][a-z0-9-]{0,62}$/, "Node names use lowercase letters, digits and hyphens"),
  apiUrl: endpointUrl,
  consoleUrl: z.string().url().max(500).regex(/^wss?:\/\//, "consoleUrl must be ws:// or wss://"),
  totalCpus: z.number().int().min(0).max(4096),
  totalMemoryMiB: z.number().int().min(0).max(64 * 1024 * 1024),
  capabilities: nodeCapabilitiesSchema,
});
export type RegisterInput = z.infer<typeof registerInputSchema>;

export const syncInputSchema = z.object({
  vms: z.array(vmReportSchema).max(10_000),
  capabilities: nodeCapabilitiesSchema.optional(),
  /** Where the agent listens now (it may have moved since it registered). */
  endpoints: z.object({ apiUrl: endpointUrl, consoleUrl }).optional(),
  etag: z.string().max(64).nullish(),
  waitMs: z.number().int().min(0).max(20_000).default(0),
});
export type SyncInput = z.infer<typeof syncInputSchema>;
