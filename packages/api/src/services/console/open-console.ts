// Authorizes a console (VNC, or RDP where the template offers it) and signs a short-lived token
// for the node's gateway; the URL's path names the protocol, the token binds it.
import type { Db } from "@vdi/db";
import type { Actor } from "../../context.ts";
import { AppError } from "../../errors.ts";
import { describeLastSeen, isNodeUp } from "../node/node-health.ts";
import type { ConsoleSigner } from "@vdi/node-protocol/capability-token";
import { visibleVms } from "../vm/vm-access.ts";
import { CONSOLE_PROTOCOLS, consolesOf, type ConsoleProtocol } from "@vdi/node-protocol";

export async function openConsole(
  deps: { db: Db; consoleSigner: ConsoleSigner; nodeDownAfterMs: number; ip: string | null },
  actor: Actor,
  vmId: string,
  asked?: ConsoleProtocol,
  /** A seat's kiosk asks: the token names its session, and the console closes when that ends. */
  opts: { seatSession?: string; shadow?: { id: string; viewOnly: boolean } } = {},
) {
  const vm = await deps.db.vm.findFirst({ where: { id: vmId, ...visibleVms(actor) }, include: { node: true, template: { select: { consoles: true, title: true } } } });
  if (!vm) throw new AppError("NOT_FOUND", { message: "VM not found" });
  if (!isNodeUp(vm.node, deps.nodeDownAfterMs)) {
    throw new AppError("NODE_UNAVAILABLE", { message: `The console is unavailable: ${describeLastSeen(vm.node)}` });
  }
  if ((vm.actualState !== "running" && vm.actualState !== "paused") || vm.desiredState === "deleted") {
    throw new AppError("INVALID_STATE", { message: `The console needs a running VM ("${vm.name}" is ${vm.actualState})` });
  }
  // The template's first protocol is the default (RDP for a desktop); one it does not offer is refused.
  const offered = consolesOf(vm.template.consoles);
  const protocol = asked ?? offered[0]!;
  if (!offered.includes(protocol)) {
    throw new AppError("INVALID_INPUT", { message: `"${vm.name}" offers no ${protocol.toUpperCase()} console (its template offers ${offered.map((p) => p.toUpperCase()).join(", ")})` });
  }
  const { token, claims } = deps.consoleSigner.sign({ vm: vm.id, node: vm.nodeId, user: actor.userId, proto: protocol, ...(opts.seatSession ? { ss: opts.seatSession } : {}),
    ...(opts.shadow ? { sh: opts.shadow.id, ...(opts.shadow.viewOnly ? { ro: true } : {}) } : {}) });
  const url = `${vm.node.consoleUrl.replace(/\/$/, "")}${CONSOLE_PROTOCOLS[protocol].path}?token=${encodeURIComponent(token)}`;
  return { url, expiresAt: claims.exp, protocol };
}
