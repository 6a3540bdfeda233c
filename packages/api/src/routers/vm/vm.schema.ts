// zod inputs for the vm procedures.
import { z } from "zod";
import { VM_PAGE_MAX } from "../../services/vm/list-vms.ts";

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

/** Where a page of the VM list starts: a position (creation time and id), not a row, so it outlives its VM. */
export const vmCursorSchema = z.string().max(80).regex(/^[0-9a-z]{1,12}\.[a-z0-9]{1,64}$/, "Invalid cursor: pass the cursor of a VM from the list");
export const listVmsSchema = z.object({
  /** The cursor of the last VM of the page before (direction "after"), or of the first VM of the page after ("before"). */
  cursor: vmCursorSchema.nullish(),
  direction: z.enum(["after", "before"]).optional(),
  limit: z.number().int("The page size is a whole number").min(1, "At least 1 VM a page").max(VM_PAGE_MAX, `At most ${VM_PAGE_MAX} VMs a page`).optional(),
}).optional();
