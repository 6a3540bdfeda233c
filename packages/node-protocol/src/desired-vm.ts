// What the portal tells a node: the VMs it should have, each in its desired state, with the
// operation to carry out once.
import { z } from "zod";
import { operationSchema } from "./operations.ts";
import { DESIRED_STATES } from "./vm-states.ts";
import { MAC_ADDRESS, MAX_NICS, nicSchema } from "./nics.ts";

const id = z.string().min(1).max(64);

export const cloneSourceSchema = z.object({
  vmId: id,
  snapshotId: id.nullable(),
  /** "memory": resume the snapshot's RAM (microVMs); "linked": a disk backed by the source's layer; "full": an own copy. */
  mode: z.enum(["memory", "linked", "full"]),
});

export const desiredVmSchema = z.object({
  id,
  name: z.string().min(1).max(128),
  generation: z.number().int().min(0),
  desiredState: z.enum(DESIRED_STATES),
  cpus: z.number().int().min(1).max(1024),
  memoryMiB: z.number().int().min(1).max(16 * 1024 * 1024),
  diskGiB: z.number().int().min(0).max(1024 * 1024),
  /** The first card's MAC (what nodes older than `nics` read). */
  macAddress: z.string().regex(MAC_ADDRESS),
  /** The VM's network cards, in order; absent in records written before the list. */
  nics: z.array(nicSchema).min(1).max(MAX_NICS).optional(),
  engine: z.string().min(1).max(32),
  image: z.string().min(1).max(64),
  op: operationSchema.nullable(),
  /** A clone is made from another VM on the same node (or from its snapshot). */
  cloneOf: cloneSourceSchema.nullable(),
});
export type DesiredVm = z.infer<typeof desiredVmSchema>;

export const syncOutputSchema = z.object({
  vms: z.array(desiredVmSchema).max(100_000),
  etag: z.string().max(64),
  /** When the portal read the set: of two answers that cross, the node keeps the later. */
  desiredAt: z.number(),
  consolePublicKeyPem: z.string().max(10_000),
  /** Users whose access was revoked lately: their consoles close. */
  revokedUsers: z.array(id).max(10_000),
  /** Seat sessions, and helpdesk shadow grants, that ended lately (the user logged in at another seat, logged out, idled; a shadow stopped or changed grant): their consoles close with the reason. */
  endedSeatSessions: z.array(z.object({ id, reason: z.string().max(200) })).max(20_000).default([]),
  serverTime: z.number(),
});
export type SyncOutput = z.infer<typeof syncOutputSchema>;

export const registerOutputSchema = z.object({
  nodeId: id,
  secret: z.string().min(16).max(256),
  consolePublicKeyPem: z.string().max(10_000),
});
export type RegisterOutput = z.infer<typeof registerOutputSchema>;
