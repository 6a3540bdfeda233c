// The engines a node runs VMs with, and what is particular to each, in one table: the portal's
// rules (what a VM allows), the browser (what it offers, from the API's view of a VM) and the
// node read these traits, never an engine's name.
import { z } from "zod";

/** QEMU for full operating systems; our own VMM (native/, the `vdi-vmm` binary) for microVMs. */
export const ENGINE_NAMES = ["qemu", "vdi-vmm"] as const;
export type EngineName = (typeof ENGINE_NAMES)[number];

export interface EngineTraits {
  /** What users read. */
  label: string;
  /** The VM has a disk of its own: it can grow, become a template, and take disk-only snapshots. */
  hasDisk: boolean;
  /** Its snapshots hold memory and device state, so they need a running (or paused) VM. */
  snapshotsHoldMemory: boolean;
  /** A clone that does not say how it is made. */
  defaultCloneMode: "memory" | "linked";
  /** Why no node can run it, when none reports it available. */
  unavailable: string;
}

export const ENGINE_TRAITS: Record<EngineName, EngineTraits> = {
  qemu: {
    label: "QEMU",
    hasDisk: true,
    snapshotsHoldMemory: false,
    defaultCloneMode: "linked",
    unavailable: "QEMU VMs need QEMU on a node, and no node that is up has it",
  },
  "vdi-vmm": {
    label: "microVM",
    hasDisk: false,
    snapshotsHoldMemory: true,
    defaultCloneMode: "memory",
    unavailable: "microVMs need hardware virtualization (KVM) on a node, and no node that is up has it",
  },
};

/** Names stored before the rename: our VMM was called "kvm", which is also QEMU's accelerator. */
const LEGACY: Record<string, EngineName> = { kvm: "vdi-vmm" };

/** The engine a stored or received name means (legacy names included), or null. */
export function engineNamed(name: string): EngineName | null {
  if ((ENGINE_NAMES as readonly string[]).includes(name)) return name as EngineName;
  return LEGACY[name] ?? null;
}

/** The traits of a stored engine name; an unknown one is treated like QEMU (a disk, no RAM snapshots). */
export function traitsOf(name: string): EngineTraits {
  return ENGINE_TRAITS[engineNamed(name) ?? "qemu"];
}

/** An engine name in a manifest or an input: today's names, and legacy ones read as today's. */
export const engineNameSchema = z.string().max(32).transform((n, ctx) => {
  const e = engineNamed(n);
  if (!e) {
    ctx.addIssue({ code: "custom", message: `Unknown engine "${n.slice(0, 32)}" (${ENGINE_NAMES.join(", ")})` });
    return z.NEVER;
  }
  return e;
});
