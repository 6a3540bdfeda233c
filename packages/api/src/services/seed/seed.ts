// Idempotent first-run data: the platform admin, a demo tenant and user, and the templates
// described by the guest images that were built on this machine.
import type { Db } from "@vdi/db";
import { z } from "zod";
import type { Auth } from "../auth/auth.ts";
import { ensureTenant, ensureUser } from "../auth/create-user.ts";
import { engineNameSchema } from "@vdi/node-protocol";

export const imageTemplateSchema = z.object({
  name: z.string().max(64).regex(/^[a-z0-9-]{1,64}$/),
  title: z.string().max(200),
  description: z.string().max(2000).optional(),
  engine: engineNameSchema.default("qemu"),
  defaultMemoryMiB: z.number().int().positive().default(256),
  minMemoryMiB: z.number().int().positive().default(128),
  maxMemoryMiB: z.number().int().positive().default(2048),
  defaultCpus: z.number().int().positive().default(1),
  maxCpus: z.number().int().positive().default(4),
  diskSizeGiB: z.number().min(0).default(1),
  /** A desktop template: its guest takes RDP, which becomes the default console (VNC still shows boot). */
  desktop: z.object({ rdpPort: z.number().int() }).loose().optional(),
});
export type ImageTemplate = z.infer<typeof imageTemplateSchema>;

export interface SeedInput {
  admin: { email: string; password: string };
  demo: { email: string; password: string };
  templates: ImageTemplate[];
}

export async function seed(deps: { db: Db; auth: Auth }, input: SeedInput) {
  const { db } = deps;
  const platform = await ensureTenant(db, "platform", "Platform");
  const demo = await ensureTenant(db, "demo", "Demo tenant");
  await ensureUser(deps, { ...input.admin, name: "Administrator", tenantId: platform.id, role: "admin" });
  await ensureUser(deps, { ...input.demo, name: "Demo User", tenantId: demo.id, role: "tenant_admin" });
  for (const t of input.templates) {
    const data = {
      title: t.title,
      description: t.description ?? "",
      engine: t.engine,
      image: t.name,
      defaultCpus: t.defaultCpus,
      maxCpus: t.maxCpus,
      defaultMemoryMiB: t.defaultMemoryMiB,
      minMemoryMiB: t.minMemoryMiB,
      maxMemoryMiB: t.maxMemoryMiB,
      diskGiB: Math.ceil(t.diskSizeGiB),
      consoles: t.desktop ? "rdp,vnc" : "vnc",
    };
    await db.template.upsert({ where: { slug: t.name }, create: { slug: t.name, ...data }, update: data });
  }
  return { platformTenantId: platform.id, demoTenantId: demo.id };
}
