// zod inputs for the vm procedures.
import { z } from "zod";

export const vmIdSchema = z.string().min(1).max(64).regex(/^[a-z0-9]+$/, "Invalid VM id");
export const vmNameSchema = z
  .string()
  .trim()
  .min(1, "Give the VM a name")
  .max(63, "Names are at most 63 characters")
  .regex(/^[a-z0-9]([a-z0-9-]*[a-z0-9])?$/, "Use lowercase letters, digits and hyphens; start and end with a letter or digit");

export const createVmSchema = z.object({
  templateId: z.string().min(1).max(64),
  name: vmNameSchema,
  cpus: z.number().int("CPUs must be a whole number").min(1, "At least 1 CPU").max(64, "At most 64 CPUs").optional(),
  memoryMiB: z.number().int("Memory must be a whole number of MiB").min(64, "At least 64 MiB").max(262_144, "At most 256 GiB").optional(),
});
export const vmRefSchema = z.object({ vmId: vmIdSchema });
