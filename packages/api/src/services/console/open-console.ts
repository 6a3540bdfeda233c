// Authorizes a console and signs a short-lived token for the node's gateway.
import type { Db } from "@vdi/db";
import type { Actor } from "../../context.ts";
import { AppError } from "../../errors.ts";
import { describeLastSeen, isNodeUp } from "../node/node-health.ts";
import type { ConsoleSigner } from "@vdi/node-protocol/capability-token";
import { visibleVms } from "../vm/vm-access.ts";

export async function openConsole(
  deps: { db: Db; consoleSigner: ConsoleSigner; nodeDownAfterMs: number; ip: string | null },
  actor: Actor,
  vmId: string,
) {
  const vm = await deps.db.vm.findFirst({ where: { id: vmId, ...visibleVms(actor) }, include: { node: true } });
  if (!vm) throw new AppError("NOT_FOUND", { message: "VM not found" });
  if (!isNodeUp(vm.node, deps.nodeDownAfterMs)) {
    throw new AppError("NODE_UNAVAILABLE", { message: `The console is unavailable: ${describeLastSeen(vm.node)}` });
  }
  if ((vm.actualState !== "running" && vm.actualState !== "paused") || vm.desiredState === "deleted") {
    throw new AppError("INVALID_STATE", { message: `The console needs a running VM ("${vm.name}" is ${vm.actualState})` });
  }
  const { token, claims } = deps.consoleSigner.sign({ vm: vm.id, node: vm.nodeId, user: actor.userId, proto: "vnc" });
  const url = `${vm.node.consoleUrl.replace(/\/$/, "")}/console?token=${encodeURIComponent(token)}`;
  return { url, expiresAt: claims.exp };
}
