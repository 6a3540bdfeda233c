// The operation kinds a portal asks of a node, each with its argument. The one place the argument
// is encoded (Vm.lastOpArg, JSON) and decoded: the portal, the node and the node's own state files
// all read it through decodeOperation.
import { z } from "zod";

const id = z.string().regex(/^[a-z0-9]{1,64}$/, "an id of lowercase letters and digits");
const imageSlug = z.string().regex(/^[a-z0-9-]{1,64}$/, "an image name of lowercase letters, digits and hyphens");
const none = z.object({}).strip();

/** Each kind's argument. A kind without one takes `{}`. */
export const OPERATION_ARGS = {
  create: none,
  start: none,
  /** Shut down: the guest is asked (ACPI power button) and given its template's time, then powered off. */
  stop: none,
  /** Power off at once, as pulling the plug; it also ends a shutdown the guest is taking too long over. */
  poweroff: none,
  reboot: none,
  pause: none,
  resume: none,
  save: none,
  delete: none,
  /** Revert to a snapshot (its RAM too, when it has it). */
  restore: z.object({ snapshotId: id }),
  /** Take a snapshot into a snapshot row the portal made ("creating" until this succeeds). */
  snapshot: z.object({ snapshotId: id, withRam: z.boolean().default(true) }),
  "snapshot-delete": z.object({ snapshotId: id }),
  /** Export the VM's disk (or one of its snapshots) as a new template's image. */
  template: z.object({ templateId: id, image: imageSlug, title: z.string().max(200), snapshotId: id.optional() }),
  /** Grow the disk to `diskGiB`; `fromGiB` is what a failed resize returns to. No sizes: nothing to grow. */
  resize: z.object({ diskGiB: z.number().int().min(1).max(65_536).optional(), fromGiB: z.number().int().min(1).max(65_536).optional() }),
} as const;

export type OperationKind = keyof typeof OPERATION_ARGS;
export const OPERATION_KINDS = Object.keys(OPERATION_ARGS) as OperationKind[];
export type OperationArg<K extends OperationKind> = z.output<(typeof OPERATION_ARGS)[K]>;

const opId = z.string().min(1).max(64);
function variant<K extends OperationKind>(kind: K) {
  return z.object({ id: opId, kind: z.literal(kind), arg: OPERATION_ARGS[kind] as (typeof OPERATION_ARGS)[K] });
}

/** An operation as it travels to a node: `{ id, kind, arg }`, narrowed on `kind`. */
export const operationSchema = z.discriminatedUnion("kind", [
  variant("create"), variant("start"), variant("stop"), variant("poweroff"), variant("reboot"), variant("pause"), variant("resume"),
  variant("save"), variant("delete"), variant("restore"), variant("snapshot"), variant("snapshot-delete"),
  variant("template"), variant("resize"),
]);
export type Operation = z.output<typeof operationSchema>;
export type OperationOf<K extends OperationKind> = Extract<Operation, { kind: K }>;

export function isOperationKind(kind: string): kind is OperationKind {
  return Object.hasOwn(OPERATION_ARGS, kind);
}

/** What Vm.lastOpArg holds for this argument (null when it has nothing to say). */
export function encodeOperationArg<K extends OperationKind>(kind: K, arg: z.input<(typeof OPERATION_ARGS)[K]> | OperationArg<K>): string | null {
  const parsed = OPERATION_ARGS[kind].parse(arg) as object;
  return Object.keys(parsed).length === 0 ? null : JSON.stringify(parsed);
}

export class OperationDecodeError extends Error {}

/**
 * The operation of a stored row or a received spec: `arg` may be the stored JSON text, the bare
 * snapshot id rows from before JSON held, null, or an already decoded object (the wire, a node's
 * state file). Throws OperationDecodeError for an unknown kind or an argument that does not fit it.
 */
export function decodeOperation(op: { id: string; kind: string; arg: unknown }): Operation {
  if (!isOperationKind(op.kind)) throw new OperationDecodeError(`Unknown operation kind "${op.kind.slice(0, 40)}"`);
  let arg: unknown = op.arg ?? {};
  if (typeof arg === "string") {
    if (arg.startsWith("{")) {
      try { arg = JSON.parse(arg); } catch { throw new OperationDecodeError(`The ${op.kind} operation's argument is not valid JSON`); }
    } else {
      arg = { snapshotId: arg };  // the bare id older portals stored for snapshot and restore
    }
  }
  const r = operationSchema.safeParse({ id: op.id, kind: op.kind, arg });
  if (!r.success) throw new OperationDecodeError(`The ${op.kind} operation's argument is invalid: ${r.error.issues.map((i) => `${i.path.slice(1).join(".") || "argument"}: ${i.message}`).join("; ").slice(0, 300)}`);
  return r.data;
}

/** Like decodeOperation, but null for an argument that cannot be read (a row to leave alone). */
export function tryDecodeOperation(op: { id: string; kind: string; arg: unknown }): Operation | null {
  try { return decodeOperation(op); } catch (e) { if (e instanceof OperationDecodeError) return null; throw e; }
}
