// The node's VM state changes: the table in @vdi/node-protocol and the one door every change on the
// node goes through (reconcile/vm-state.ts).
import { describe, expect, it } from "vitest";
import { isNodeTransition, NODE_VM_STATES, NODE_VM_TRANSITIONS, type NodeVmState } from "@vdi/node-protocol";
import { transition, type VmStateHolder } from "../src/reconcile/vm-state.ts";

const vmIn = (state: NodeVmState): VmStateHolder => ({ id: "v1", state, reason: null });

describe("node VM state transitions", () => {
  it("names only known states, and every state has a row", () => {
    expect(Object.keys(NODE_VM_TRANSITIONS).sort()).toEqual([...NODE_VM_STATES].sort());
    for (const [from, tos] of Object.entries(NODE_VM_TRANSITIONS)) {
      for (const to of tos) expect(NODE_VM_STATES, `${from} → ${to}`).toContain(to);
    }
  });

  it("has the DESIGN's paths, migration included, and nothing out of deleted but a repeated delete", () => {
    const path = (...s: NodeVmState[]) => s.slice(1).every((to, i) => isNodeTransition(s[i]!, to));
    expect(path("provisioning", "stopped", "starting", "running", "paused", "running")).toBe(true);
    expect(path("running", "saving", "saved", "starting", "running")).toBe(true);
    expect(path("running", "migrating", "running")).toBe(true);
    expect(path("incoming", "running")).toBe(true);
    for (const s of NODE_VM_STATES) expect(isNodeTransition(s, "error"), `${s} → error`).toBe(true);
    for (const s of NODE_VM_STATES) if (s !== "deleted" && s !== "deleting" && s !== "error") expect(isNodeTransition("deleted", s), `deleted → ${s}`).toBe(false);
    expect(isNodeTransition("saved", "running")).toBe(false);  // a saved VM comes back through starting
    expect(isNodeTransition("stopped", "incoming")).toBe(false);
  });

  it("takes an allowed change, and reports a repeat as no change", () => {
    const vm = vmIn("stopped");
    const logs: string[] = [];
    expect(transition(vm, "starting", null, (m) => logs.push(m))).toBe(true);
    expect(vm.state).toBe("starting");
    expect(transition(vm, "starting", null, (m) => logs.push(m))).toBe(false);
    expect(logs).toEqual([]);
  });

  it("refuses a change outside the table: logged, and the VM is reported in error with why", () => {
    const vm = vmIn("deleted");
    const logs: string[] = [];
    expect(transition(vm, "running", null, (m) => logs.push(m))).toBe(true);
    expect(vm.state).toBe("error");
    expect(vm.reason).toMatch(/refused to move the VM from deleted to running/);
    expect(logs).toEqual(["vm v1: refused state change deleted → running"]);
  });
});
