// The one channel between a node and the portal: the node reports what is, and gets back
// what should be. Long-polls until the desired set changes, so actions reach nodes at once.
import { createHash } from "node:crypto";
import type { Db } from "@vdi/db";
import { bus, nodeTopic, tenantTopic, waitFor } from "../../lib/bus.ts";
import { defaultNics, engineNamed, traitsOf, tryDecodeOperation, type DesiredVm, type SyncInput, type VmReport } from "@vdi/node-protocol";
import { finishOperation } from "../operation/rooms.ts";

export { syncInputSchema, type SyncInput, type VmReport, type DesiredVm } from "@vdi/node-protocol";

/** A row's operation as the wire carries it (decoded once, services/operation rooms write it). */
function operationOf(v: { id: string; lastOpId: string | null; lastOpKind: string | null; lastOpArg: string | null }): DesiredVm["op"] {
  const op = tryDecodeOperation({ id: v.lastOpId!, kind: v.lastOpKind!, arg: v.lastOpArg });
  // Only a row written outside the portal's rooms can fail here: the node is not asked to act on it.
  if (!op) console.error(`vm ${v.id}: operation ${v.lastOpId} (${v.lastOpKind}) has an argument that cannot be read; not sent to the node`);
  return op;
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
    nics: defaultNics(v.macAddress),
    engine: engineNamed(v.template.engine) ?? v.template.engine,
    image: v.template.image,
    op: v.lastOpId && v.lastOpKind ? operationOf(v) : null,
    cloneOf: v.cloneOfVmId
      ? { vmId: v.cloneOfVmId, snapshotId: v.cloneOfSnapshotId, mode: (v.cloneMode ?? traitsOf(v.template.engine).defaultCloneMode) as "memory" | "linked" | "full" }
      : null,
  }));
  const etag = createHash("sha256").update(JSON.stringify(vms)).digest("base64url").slice(0, 32);
  return { vms, etag };
}

type Tx = Parameters<Parameters<Db["$transaction"]>[0]>[0];

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
        // What the operation changes besides its row: its kind's room (services/operation/).
        const decoded = final && current ? tryDecodeOperation({ id: op.id, kind: op.kind, arg: current.lastOpArg }) : null;
        if (decoded) {
          const done = { ok: report.op.status === "succeeded", report, bytes: BigInt(report.op.bytes ?? 0) };
          if ((await finishOperation(db, current!, decoded, done)) === "removed") return vm.tenantId;
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

/** How long an ended seat session stays on the list nodes get: far longer than a console token (60 s) or a sync gap. */
export const ENDED_SEAT_SESSIONS_WINDOW_MS = 15 * 60_000;

/** Seat sessions that ended lately (docs/seating.md): nodes close their consoles with the reason. */
async function recentlyEndedSeatSessions(db: Db): Promise<Array<{ id: string; reason: string }>> {
  const rows = await db.seatSession.findMany({
    where: { endedAt: { gte: new Date(Date.now() - ENDED_SEAT_SESSIONS_WINDOW_MS) } },
    select: { id: true, endReason: true },
    orderBy: { endedAt: "desc" },
    take: 10_000,
  });
  // A helpdesk shadow's ended grants too: its consoles carry the grant's id (sh) besides the session's.
  const grants = await db.sessionShadow.findMany({
    where: { endedAt: { gte: new Date(Date.now() - ENDED_SEAT_SESSIONS_WINDOW_MS) } },
    select: { id: true, endReason: true },
    orderBy: { endedAt: "desc" },
    take: 5_000,
  });
  return [
    ...rows.map((r) => ({ id: r.id, reason: (r.endReason ?? "the seat session ended").slice(0, 200) })),
    ...grants.map((g) => ({ id: g.id, reason: (g.endReason ?? "the helpdesk session ended").slice(0, 200) })),
  ];
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
  return { ...desired, desiredAt, consolePublicKeyPem: deps.consolePublicKeyPem, revokedUsers: await recentlyRevokedUsers(db), endedSeatSessions: await recentlyEndedSeatSessions(db), serverTime: Date.now() };
}
