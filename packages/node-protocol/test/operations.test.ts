// The operation argument is encoded and decoded in one place, for every kind, and a row or a spec
// that does not fit its kind is refused with the reason.
import { describe, expect, it } from "vitest";
import { decodeOperation, encodeOperationArg, OPERATION_KINDS, OperationDecodeError, tryDecodeOperation } from "../src/operations.ts";
import { desiredVmSchema } from "../src/desired-vm.ts";

describe("operations on the wire", () => {
  it("round-trips every kind's argument through Vm.lastOpArg", () => {
    const args = {
      snapshot: { snapshotId: "s1", withRam: false },
      restore: { snapshotId: "s1" },
      "snapshot-delete": { snapshotId: "s1" },
      template: { templateId: "t1", image: "my-image", title: "My image", snapshotId: "s2" },
      resize: { diskGiB: 20, fromGiB: 10 },
    } as const;
    for (const kind of OPERATION_KINDS) {
      const arg = (args as Record<string, object>)[kind] ?? {};
      const stored = encodeOperationArg(kind, arg as never);
      expect(stored === null).toBe(Object.keys(arg).length === 0);
      const op = decodeOperation({ id: "op1", kind, arg: stored });
      expect(op).toEqual({ id: "op1", kind, arg });
      // The wire carries the decoded object; decoding it again gives the same.
      expect(decodeOperation(op)).toEqual(op);
    }
  });

  it("reads what older rows hold: a bare snapshot id, and a snapshot without withRam", () => {
    expect(decodeOperation({ id: "o", kind: "restore", arg: "abc123" })).toEqual({ id: "o", kind: "restore", arg: { snapshotId: "abc123" } });
    expect(decodeOperation({ id: "o", kind: "snapshot", arg: "abc123" })).toEqual({ id: "o", kind: "snapshot", arg: { snapshotId: "abc123", withRam: true } });
    expect(decodeOperation({ id: "o", kind: "resize", arg: "{}" }).arg).toEqual({});
    expect(decodeOperation({ id: "o", kind: "start", arg: null }).arg).toEqual({});
  });

  it("refuses an unknown kind, bad JSON and an argument that does not fit its kind", () => {
    expect(() => decodeOperation({ id: "o", kind: "migrate-to-mars", arg: null })).toThrow(/Unknown operation kind "migrate-to-mars"/);
    expect(() => decodeOperation({ id: "o", kind: "snapshot", arg: "{nope" })).toThrow(/not valid JSON/);
    expect(() => decodeOperation({ id: "o", kind: "snapshot", arg: {} })).toThrow(/snapshot operation's argument is invalid: snapshotId/);
    expect(() => decodeOperation({ id: "o", kind: "restore", arg: { snapshotId: "../../etc" } })).toThrow(OperationDecodeError);
    expect(() => decodeOperation({ id: "o", kind: "resize", arg: { diskGiB: -1 } })).toThrow(/diskGiB/);
    expect(() => decodeOperation({ id: "o", kind: "template", arg: { templateId: "t", image: "Bad Image", title: "x" } })).toThrow(/image/);
    expect(tryDecodeOperation({ id: "o", kind: "restore", arg: "{}" })).toBeNull();
    expect(() => encodeOperationArg("snapshot", { snapshotId: "UPPER" } as never)).toThrow();
  });

  it("checks the desired VM a node receives, operation included", () => {
    const vm = { id: "v1", name: "vm", generation: 3, desiredState: "running", cpus: 1, memoryMiB: 256, diskGiB: 2, macAddress: "52:54:00:12:34:56", engine: "qemu", image: "debian-shell", op: { id: "o1", kind: "snapshot", arg: { snapshotId: "s1", withRam: true } }, cloneOf: null };
    expect(desiredVmSchema.parse(vm).op).toEqual({ id: "o1", kind: "snapshot", arg: { snapshotId: "s1", withRam: true } });
    expect(desiredVmSchema.safeParse({ ...vm, op: { id: "o1", kind: "snapshot", arg: {} } }).success).toBe(false);
    expect(desiredVmSchema.safeParse({ ...vm, desiredState: "exploded" }).success).toBe(false);
  });
});
