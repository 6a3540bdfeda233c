// A recent PNG of a VM's screen: the portal signs a read-only "thumb" token and fetches the
// picture from the VM's node itself, so the browser never learns a node's address.
import type { Db } from "@vdi/db";
import type { Actor } from "../../context.ts";
import { AppError } from "../../errors.ts";
import { describeLastSeen, isNodeUp } from "../node/node-health.ts";
import type { ConsoleSigner } from "@vdi/node-protocol/capability-token";
import { visibleVms } from "../vm/vm-access.ts";
import { BodyTooLarge, readCapped } from "../../lib/read-capped.ts";

export const THUMBNAIL_FETCH_TIMEOUT_MS = 4_000;
export const THUMBNAIL_MAX_BYTES = 2 * 1024 * 1024;
const PNG_SIGNATURE = Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);

export interface VmThumbnail {
  png: Buffer;
  /** When the node grabbed the frame (ms since the epoch). */
  at: number;
}

/** No audit row: thumbnails are read-only and asked for every few seconds per open list page. */
export async function fetchVmThumbnail(
  deps: { db: Db; consoleSigner: ConsoleSigner; nodeDownAfterMs: number },
  actor: Pick<Actor, "userId" | "tenantId" | "role">,
  vmId: string,
): Promise<VmThumbnail> {
  if (!/^[a-z0-9]{1,64}$/.test(vmId)) throw new AppError("NOT_FOUND", { message: "VM not found" });
  const vm = await deps.db.vm.findFirst({ where: { id: vmId, ...visibleVms(actor) }, include: { node: true } });
  if (!vm) throw new AppError("NOT_FOUND", { message: "VM not found" });
  if ((vm.actualState !== "running" && vm.actualState !== "paused") || vm.desiredState === "deleted") {
    throw new AppError("INVALID_STATE", { message: `A screen thumbnail needs a running VM ("${vm.name}" is ${vm.actualState})` });
  }
  if (!isNodeUp(vm.node, deps.nodeDownAfterMs)) {
    throw new AppError("NODE_UNAVAILABLE", { message: `The screen is unavailable: ${describeLastSeen(vm.node)}` });
  }
  const protocol = URL.canParse(vm.node.apiUrl) ? new URL(vm.node.apiUrl).protocol : null;
  if (protocol !== "http:" && protocol !== "https:") {
    throw new AppError("NODE_UNAVAILABLE", { message: `Node ${vm.node.name} has no HTTP endpoint` });
  }
  const { token } = deps.consoleSigner.sign({ vm: vm.id, node: vm.nodeId, user: actor.userId, proto: "thumb" });
  const url = `${vm.node.apiUrl.replace(/\/$/, "")}/thumbnail?token=${encodeURIComponent(token)}`;
  const unavailable = (why: string, cause?: unknown) =>
    new AppError("NODE_UNAVAILABLE", { message: `The screen is unavailable: node ${vm.node.name} ${why}`, cause });

  let res: Response;
  try {
    res = await fetch(url, { signal: AbortSignal.timeout(THUMBNAIL_FETCH_TIMEOUT_MS), redirect: "error" });
  } catch (err) {
    throw unavailable(`did not answer within ${THUMBNAIL_FETCH_TIMEOUT_MS / 1000} s`, err);
  }
  if (res.status === 404) {
    await res.body?.cancel();
    throw new AppError("INVALID_STATE", { message: `"${vm.name}" has no screen on its node yet` });
  }
  if (!res.ok) {
    const reason = (await readCappedResponse(res, 200).catch(() => Buffer.alloc(0))).toString("utf8");
    throw unavailable(`answered ${res.status}${reason ? ` (${reason})` : ""}`);
  }
  let png: Buffer;
  try {
    png = await readCappedResponse(res, THUMBNAIL_MAX_BYTES);
  } catch (err) {
    throw unavailable(err instanceof BodyTooLarge ? `sent more than ${THUMBNAIL_MAX_BYTES} bytes` : "broke off the picture", err);
  }
  if (!png.subarray(0, PNG_SIGNATURE.length).equals(PNG_SIGNATURE)) throw unavailable("sent something that is not a PNG");
  const at = Number(res.headers.get("x-thumbnail-at"));
  return { png, at: Number.isSafeInteger(at) && at > 0 ? at : Date.now() };
}

/** The body, refusing (and cancelling) past `max` bytes, whatever the node claims in content-length. */
/** A node's answer, at most `max` bytes. */
function readCappedResponse(res: Response, max: number): Promise<Buffer> {
  return readCapped(res.body, res.headers.get("content-length"), max);
}
