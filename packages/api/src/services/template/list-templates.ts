// Templates a tenant may create VMs from: public ones and its own, not retired.
import type { Db } from "@vdi/db";
import type { Actor } from "../../context.ts";

export async function listTemplates(db: Db, actor: Actor) {
  return db.template.findMany({
    where: { status: "ready", retiredAt: null, OR: [{ tenantId: null }, { tenantId: actor.tenantId }] },
    orderBy: { title: "asc" },
    select: {
      id: true, slug: true, title: true, description: true, engine: true,
      defaultCpus: true, maxCpus: true, defaultMemoryMiB: true, minMemoryMiB: true, maxMemoryMiB: true, diskGiB: true, tenantId: true, consoles: true,
    },
  });
}
