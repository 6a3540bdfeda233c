// Engine names and traits: one table decides what each engine allows; the old name of our VMM
// ("kvm", also QEMU's accelerator) is read as "vdi-vmm" wherever it was stored.
import { describe, expect, it } from "vitest";
import { engineNamed, engineNameSchema, ENGINE_TRAITS, traitsOf } from "../src/engines.ts";

describe("engines", () => {
  it("reads the legacy name as our VMM, and refuses names it does not know", () => {
    expect(engineNamed("vdi-vmm")).toBe("vdi-vmm");
    expect(engineNamed("kvm")).toBe("vdi-vmm");
    expect(engineNamed("qemu")).toBe("qemu");
    expect(engineNamed("xen")).toBeNull();
    expect(engineNameSchema.parse("kvm")).toBe("vdi-vmm");
    expect(engineNameSchema.safeParse("xen").error?.issues[0]?.message).toBe('Unknown engine "xen" (qemu, vdi-vmm)');
  });

  it("gives each engine its traits, and an unknown stored name QEMU's (a disk, nothing more)", () => {
    expect(traitsOf("kvm")).toBe(ENGINE_TRAITS["vdi-vmm"]);
    expect(traitsOf("vdi-vmm")).toMatchObject({ hasDisk: false, snapshotsHoldMemory: true, defaultCloneMode: "memory" });
    expect(traitsOf("qemu")).toMatchObject({ hasDisk: true, snapshotsHoldMemory: false, defaultCloneMode: "linked" });
    expect(traitsOf("something-else")).toBe(ENGINE_TRAITS.qemu);
    expect(ENGINE_TRAITS["vdi-vmm"].unavailable).toMatch(/^microVMs need hardware virtualization \(KVM\) on a node/);
  });
});
