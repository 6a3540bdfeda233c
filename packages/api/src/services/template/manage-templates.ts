// Platform admins' view of the templates: all of them, of every tenant, with how many VMs use
// each; change who may use one (every tenant, or one tenant), retire or bring one back.
import type { Db } from "@vdi/db";
import { AppError } from "../../errors.ts";

export async function listAllTemplates(db: Db) {
  // Three bounded reads, not includes (an include binds one parameter per template).
  const [rows, tenantRows, uses] = await Promise.all([
    db.template.findMany({ orderBy: [{ retiredAt: "asc" }, { title: "asc" }] }),
    db.tenant.findMany({ where: { templates: { some: {} } }, select: { id: true, slug: true, name: true } }),
    db.vm.groupBy({ by: ["templateId"], _count: { _all: true } }),
  ]);
  const tenants = new Map(tenantRows.map((t) => [t.id, t]));
  const vmCounts = new Map(uses.map((u) => [u.templateId, u._count._all]));
  const tenantOf = (id: string | null) => {
    const t = id ? tenants.get(id) : undefined;
    return t ? { slug: t.slug, name: t.name } : null;
  };
  return rows.map((t) => ({
    id: t.id, slug: t.slug, title: t.title, engine: t.engine, image: t.image, status: t.status, diskGiB: t.diskGiB,
    tenantId: t.tenantId, tenant: tenantOf(t.tenantId), nodeId: t.nodeId,
    retired: t.retiredAt !== null, retiredAt: t.retiredAt, vms: vmCounts.get(t.id) ?? 0, createdAt: t.createdAt,
  }));
}

async function requireTemplate(db: Db, templateId: string) {
  const t = await db.template.findUnique({ where: { id: templateId } });
  if (!t) throw new AppError("NOT_FOUND", { message: "Template not found" });
  return t;
}

/** tenantId null offers it to every tenant. VMs already made from it keep working wherever they are. */
export async function setTemplateVisibility(db: Db, input: { templateId: string; tenantId: string | null }) {
  const t = await requireTemplate(db, input.templateId);
  if (input.tenantId !== null && !(await db.tenant.findUnique({ where: { id: input.tenantId }, select: { id: true } }))) {
    throw new AppError("NOT_FOUND", { message: "Tenant not found" });
  }
  await db.template.update({ where: { id: t.id }, data: { tenantId: input.tenantId } });
  return { templateId: t.id, tenantId: input.tenantId };
}

/** A retired template offers no new VMs (create refuses it, the list hides it); its VMs keep running, cloning and resizing. */
export async function setTemplateRetired(db: Db, input: { templateId: string; retired: boolean }) {
  const t = await requireTemplate(db, input.templateId);
  if (input.retired !== (t.retiredAt !== null)) {
    await db.template.update({ where: { id: t.id }, data: { retiredAt: input.retired ? new Date() : null } });
  }
  return { templateId: t.id, retired: input.retired };
}
