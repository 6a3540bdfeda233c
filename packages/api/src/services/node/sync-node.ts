// The one channel between a node and the portal: the node reports what is, and gets back
// what should be. Long-polls until the desired set changes, so actions reach nodes at once.
import { createHash } from "node:crypto";
import type { Db } from "@vdi/db";
import { z } from "zod";
import { bus, nodeTopic, tenantTopic, waitFor } from "../../lib/bus.ts";
import { nodeCapabilitiesSchema } from "./node-health.ts";

export const vmReportSchema = z.object({
  id: z.string().min(1).max(64),
  state: z.enum(["provisioning", "stopped", "starting", "running", "paused", "saving", "saved", "stopping", "deleting", "deleted", "error"]),
  reason: z.string().max(1000).nullish(),
  op: z
    .object({
      id: z.string().min(1).max(64),
      status: z.enum(["running", "succeeded", "failed"]),
      progress: z.number().int().min(0).max(100),
      error: z.string().max(2000).nullish(),
      bytes: z.number().int().min(0).max(2 ** 50).nullish(),  // what a snapshot takes on disk
    })
    .nullish(),
});
export const syncInputSchema = z.object({
  vms: z.array(vmReportSchema).max(10_000),
  capabilities: nodeCapabilitiesSchema.optional(),
  /** Where the agent listens now (it may have moved since it registered). */
  endpoints: z.object({ apiUrl: z.string().url().max(500), consoleUrl: z.string().max(500).regex(/^wss?:\/\//) }).optional(),
  etag: z.string().max(64).nullish(),
  waitMs: z.number().int().min(0).max(20_000).default(0),
});
export type SyncInput = z.infer<typeof syncInputSchema>;
export type VmReport = z.infer<typeof vmReportSchema>;

export interface DesiredVm {
  id: string;
  name: string;
  generation: number;
  desiredState: "running" | "paused" | "saved" | "stopped" | "deleted";
  cpus: number;
  memoryMiB: number;
  diskGiB: number;
  macAddress: string;
  engine: string;
  image: string;
  op: { id: string; kind: string; arg: string | null } | null;
  /** A clone is made from another VM on the same node (or from its snapshot). */
  cloneOf: { vmId: string; snapshotId: string | null; mode: "memory" | "linked" | "full" } | null;
}

async function desiredFor(db: Db, nodeId: string): Promise<{ vms: DesiredVm[]; etag: string }> {
  // Two bounded reads, not an include: a relation include binds one parameter per VM (P2029 past
  // ~999 VMs on SQLite). The templates are found by a filter on the node, whatever their number.
  // VMs first: each one's template existed before it (a foreign key), so the second read has it.
  const rows = await db.vm.findMany({ where: { nodeId }, orderBy: { id: "asc" } });
  const templateRows = rows.length === 0 ? [] : await db.template.findMany({ where: { vms: { some: { nodeId } } }, select: { id: true, engine: true, image: true } });
  const templates = new Map(templateRows.map((t) => [t.id, t]));
  // (A VM deleted between the two reads, with the last VM of its template here, is left out.)
  const vms = rows.flatMap((row) => {
    const template = templates.get(row.templateId);
    return template ? [{ ...row, template }] : [];
  }).map((v) => ({
    id: v.id,
    name: v.name,
    generation: v.generation,
    desiredState: v.desiredState as DesiredVm["desiredState"],
    cpus: v.cpus,
    memoryMiB: v.memoryMiB,
    diskGiB: v.diskGiB,
    macAddress: v.macAddress,
    engine: v.template.engine,
    image: v.template.image,
    op: v.lastOpId && v.lastOpKind ? { id: v.lastOpId, kind: v.lastOpKind, arg: v.lastOpArg } : null,
    cloneOf: v.cloneOfVmId
      ? { vmId: v.cloneOfVmId, snapshotId: v.cloneOfSnapshotId, mode: (v.cloneMode ?? (v.template.engine === "kvm" ? "memory" : "linked")) as "memory" | "linked" | "full" }
      : null,
  }));
  const etag = createHash("sha256").update(JSON.stringify(vms)).digest("base64url").slice(0, 32);
  return { vms, etag };
}

/**
 * What a finished operation changes besides its row. Snapshots and templates are recorded as
 * ready only once the node has them complete on disk; a failed one goes. A failed operation
 * leaves the VM as it is: its desired state follows the state the node reports, so the node
 * does not try again behind the user's back.
 */
type Tx = Parameters<Parameters<Db["$transaction"]>[0]>[0];

async function finishOperation(db: Tx, vm: { id: string; lastOpArg: string | null; desiredState: string; cpus: number }, kind: string, report: VmReport) {
  const ok = report.op!.status === "succeeded";
  let arg: { snapshotId?: string; templateId?: string; diskGiB?: number; fromGiB?: number } = {};
  try { arg = vm.lastOpArg?.startsWith("{") ? JSON.parse(vm.lastOpArg) : { snapshotId: vm.lastOpArg ?? undefined }; } catch { /* none */ }
  const bytes = BigInt(report.op!.bytes ?? 0);
  if (kind === "snapshot" && arg.snapshotId) {
    if (ok) {
      await db.snapshot.updateMany({ where: { id: arg.snapshotId, vmId: vm.id }, data: { status: "ready", sizeBytes: bytes } });
      await db.vm.update({ where: { id: vm.id }, data: { currentSnapshotId: arg.snapshotId } });
    } else {
      await db.snapshot.deleteMany({ where: { id: arg.snapshotId, vmId: vm.id, status: "creating" } });
    }
  } else if (kind === "snapshot-delete" && arg.snapshotId) {
    if (ok) {
      const snap = await db.snapshot.findFirst({ where: { id: arg.snapshotId, vmId: vm.id } });
      if (snap) {
        // Children move up to the deleted snapshot's parent; the VM's position too.
        await db.snapshot.updateMany({ where: { parentId: snap.id }, data: { parentId: snap.parentId } });
        await db.vm.updateMany({ where: { id: vm.id, currentSnapshotId: snap.id }, data: { currentSnapshotId: snap.parentId } });
        await db.snapshot.delete({ where: { id: snap.id } });
      }
    } else {
      await db.snapshot.updateMany({ where: { id: arg.snapshotId, vmId: vm.id, status: "deleting" }, data: { status: "ready" } });
    }
  } else if (kind === "restore" && ok && arg.snapshotId) {
    await db.vm.update({ where: { id: vm.id }, data: { currentSnapshotId: arg.snapshotId } });
  } else if (kind === "template" && arg.templateId) {
    if (ok) await db.template.updateMany({ where: { id: arg.templateId, status: "creating" }, data: { status: "ready" } });
    else await db.template.deleteMany({ where: { id: arg.templateId, status: "creating" } });
  } else if (kind === "resize" && !ok && arg.fromGiB) {
    await db.vm.update({ where: { id: vm.id }, data: { diskGiB: arg.fromGiB } });
  }
  const stateOps = ["start", "stop", "pause", "resume", "save", "restore", "reboot"];
  if (!ok && stateOps.includes(kind)) {
    const now = report.state === "running" || report.state === "paused" || report.state === "saved" ? report.state : report.state === "stopped" || report.state === "error" ? "stopped" : null;
    if (now && now !== vm.desiredState) await db.vm.update({ where: { id: vm.id }, data: { desiredState: now, generation: { increment: 1 } } });
  }
}

/**
 * One VM's report, applied in one transaction: an operation's final status and what it changes
 * besides its row (a snapshot marked ready, a template, the VM's position) commit together, so a
 * crash or error in between cannot leave an operation final and its snapshot still "creating".
 */
/** Locks the VM's row and reads it again, if `opId` is still its last operation (else null). */
async function lockVmForOp(db: Tx, vmId: string, opId: string) {
  const locked = await db.vm.updateMany({ where: { id: vmId, lastOpId: opId }, data: { generation: { increment: 0 } } });
  return locked.count ? db.vm.findUnique({ where: { id: vmId } }) : null;
}

async function applyReport(db: Tx, nodeId: string, report: VmReport): Promise<string | null> {
  const vm = await db.vm.findFirst({ where: { id: report.id, nodeId } });
  if (!vm) return null; // not ours (or already gone): the node is told nothing about it
  let changed = false;
  if (report.op) {
    const op = await db.operation.findFirst({ where: { id: report.op.id, vmId: vm.id } });
    if (op && op.status !== "succeeded" && op.status !== "failed" &&
        (op.status !== report.op.status || op.progress !== report.op.progress)) {
      const final = report.op.status !== "running";
      // What was read above may be stale (READ COMMITTED): a user's action may have superseded the
      // operation since. Its VM row is locked first (as actions lock it), and the operation is
      // only moved on while it is not final, so a superseded one is never revived.
      const current = final ? await lockVmForOp(db, vm.id, op.id) : vm;
      const moved = await db.operation.updateMany({
        where: { id: op.id, status: { notIn: ["succeeded", "failed"] } },
        data: { status: report.op.status, progress: report.op.progress, error: report.op.error ?? null, finishedAt: final ? new Date() : null },
      });
      if (moved.count > 0) {
        changed = true;
        if (final && current) await finishOperation(db, current, op.kind, report);
        // A create that failed leaves nothing behind: the node has removed its files; drop the row.
        if (op.kind === "create" && report.op.status === "failed") {
          await db.vm.delete({ where: { id: vm.id } });
          return vm.tenantId;
        }
      }
    }
  }
  if (report.state === "deleted") {
    if (vm.desiredState === "deleted") {
      await db.operation.updateMany({
        where: { vmId: vm.id, status: { in: ["pending", "running"] } },
        data: { status: "succeeded", progress: 100, finishedAt: new Date() },
      });
      await db.vm.delete({ where: { id: vm.id } });
      return vm.tenantId;
    }
    return changed ? vm.tenantId : null;
  }
  const reason = report.reason ?? null;
  if (vm.actualState !== report.state || vm.stateReason !== reason) {
    await db.vm.update({ where: { id: vm.id }, data: { actualState: report.state, stateReason: reason } });
    changed = true;
  }
  return changed ? vm.tenantId : null;
}

/** How long a disabled user stays on the list nodes get: far longer than a token (60 s) or a sync gap. */
export const REVOKED_USERS_WINDOW_MS = 24 * 60 * 60_000;
const MAX_REVOKED_USERS = 10_000;

/** Users whose access was revoked lately: nodes close their open consoles and refuse new ones. */
async function recentlyRevokedUsers(db: Db): Promise<string[]> {
  const rows = await db.user.findMany({
    where: { disabledAt: { gte: new Date(Date.now() - REVOKED_USERS_WINDOW_MS) } },
    select: { id: true },
    orderBy: { disabledAt: "desc" },
    take: MAX_REVOKED_USERS,
  });
  return rows.map((u) => u.id);
}

export async function syncNode(deps: { db: Db; consolePublicKeyPem: string }, nodeId: string, input: SyncInput, signal?: AbortSignal) {
  const { db } = deps;
  await db.node.update({
    where: { id: nodeId },
    data: {
      lastSeenAt: new Date(),
      ...(input.capabilities ? { capabilities: JSON.stringify(input.capabilities) } : {}),
      ...(input.endpoints ?? {}),
    },
  });
  const touched = new Set<string>();
  // What the node reports is mostly what the portal already knows (a heartbeat repeats every VM):
  // two reads of the node's rows tell which reports change anything, so an unchanged VM costs no query.
  const [known, openOps] = input.vms.length === 0 ? [new Map(), new Set<string>()] : await Promise.all([
    db.vm.findMany({ where: { nodeId }, select: { id: true, actualState: true, stateReason: true } }).then((rows) => new Map(rows.map((v) => [v.id, v]))),
    db.operation.findMany({ where: { status: { in: ["pending", "running"] }, vm: { nodeId } }, select: { id: true } }).then((rows) => new Set(rows.map((o) => o.id))),
  ]);
  for (const r of input.vms) {
    const vm = known.get(r.id);
    if (!vm) continue;  // not ours (or already gone): the node is told nothing about it
    const opOpen = !!r.op && openOps.has(r.op.id);
    if (!opOpen && r.state !== "deleted" && vm.actualState === r.state && vm.stateReason === (r.reason ?? null)) continue;
    // Only an operation turning final changes several rows; progress and state reports (and the
    // same final status reported again at every sync) are single writes or none.
    const finishing = opOpen && r.op!.status !== "running";
    const tenantId = finishing ? await db.$transaction((tx) => applyReport(tx, nodeId, r)) : await applyReport(db, nodeId, r);
    if (tenantId) touched.add(tenantId);
  }
  for (const t of touched) bus().emit(tenantTopic(t));

  // When the desired set was read: of two answers that cross on the way back, the node keeps the
  // one read later (a long-poll that woke earlier must not undo a newer answer).
  let desiredAt = Date.now();
  let desired = await desiredFor(db, nodeId);
  if (input.waitMs > 0 && input.etag === desired.etag) {
    await waitFor(nodeTopic(nodeId), input.waitMs, signal);
    desiredAt = Date.now();
    desired = await desiredFor(db, nodeId);
  }
  return { ...desired, desiredAt, consolePublicKeyPem: deps.consolePublicKeyPem, revokedUsers: await recentlyRevokedUsers(db), serverTime: Date.now() };
}
