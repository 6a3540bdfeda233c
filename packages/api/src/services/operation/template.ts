// A template from a VM (or one of its snapshots): a "creating" template in the action's
// transaction, "ready" once the node has the image; a failed or superseded one goes.
import type { Actor } from "../../context.ts";
import { AppError } from "../../errors.ts";
import type { OperationRoom, Tx } from "./room.ts";

export interface TemplateIntent {
  title: string;
  scope: "tenant" | "global";
  snapshotId?: string | undefined;
  /** The VM and the template it was made from, as the service read them. */
  vm: { id: string; cpus: number; memoryMiB: number; diskGiB: number; nodeId: string };
  base: { title: string; maxCpus: number; minMemoryMiB: number; maxMemoryMiB: number; consoles: string };
}

export async function templateIntent(tx: Tx, actor: Actor, want: TemplateIntent) {
  if (await tx.template.findFirst({ where: { title: want.title, OR: [{ tenantId: null }, { tenantId: actor.tenantId }] }, select: { id: true } })) {
    throw new AppError("CONFLICT", { message: `A template named "${want.title}" already exists` });
  }
  const { vm, base } = want;
  const created = await tx.template.create({
    data: {
      slug: `vm-${vm.id.slice(-8)}-${Date.now().toString(36)}`,
      title: want.title,
      description: `Made from a VM${want.snapshotId ? " snapshot" : ""}, based on ${base.title}`,  // the VM itself may be private
      engine: "qemu",
      image: "pending",
      defaultCpus: vm.cpus, maxCpus: base.maxCpus,
      defaultMemoryMiB: vm.memoryMiB, minMemoryMiB: base.minMemoryMiB, maxMemoryMiB: base.maxMemoryMiB,
      diskGiB: vm.diskGiB,
      consoles: base.consoles,  // the image keeps its base's desktop
      status: "creating",
      nodeId: vm.nodeId,
      sourceVmId: vm.id,
      tenantId: want.scope === "tenant" ? actor.tenantId : null,
    },
  });
  const image = `tpl-${created.id}`;
  await tx.template.update({ where: { id: created.id }, data: { image } });
  return { templateId: created.id, image, title: want.title, ...(want.snapshotId ? { snapshotId: want.snapshotId } : {}) };
}

export const templateRoom: OperationRoom<"template"> = {
  kind: "template",
  async supersede(tx, _vmId, arg) {
    await tx.template.deleteMany({ where: { id: arg.templateId, status: "creating" } });
  },
  async finish(tx, _vm, arg, done) {
    if (done.ok) await tx.template.updateMany({ where: { id: arg.templateId, status: "creating" }, data: { status: "ready" } });
    else await tx.template.deleteMany({ where: { id: arg.templateId, status: "creating" } });
  },
};
