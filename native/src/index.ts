// The native core as the node agent sees it: where the microVM VMM (vdi-vmm, one process per
// VM, built by `make -C native`) and its guests are, whether this host's KVM can run them, and
// the Node-API addon for supervising engine processes (addon.ts).
import { accessSync, constants, existsSync } from "node:fs";
import { kvmDevice } from "./env.ts";

export { kvmDevice, DEFAULT_KVM_DEVICE } from "./env.ts";
export { nativeAddon, nativeAddonReason, NATIVE_ADDON_PATH, KVM_CAP_NAMES } from "./addon.ts";
export type { Addon, ProcessExit, WatchOptions, KvmCapabilities, KvmCapName } from "./addon.ts";

export interface KvmProbe {
  /** /dev/kvm can be opened read-write. */
  usable: boolean;
  /** KVM is a software (nested, paravirtual) implementation that cannot run a stock kernel at speed. */
  softwareNested: boolean;
  reason: string;
}

/** Whether `device` (VDI_KVM_DEVICE, else /dev/kvm) is a KVM this host can run guests on. */
export function probeKvm(device: string = kvmDevice()): KvmProbe {
  try {
    accessSync(device, constants.R_OK | constants.W_OK);
  } catch (err) {
    const hidden = device !== "/dev/kvm" ? ` (VDI_KVM_DEVICE=${device})` : "";
    return { usable: false, softwareNested: false, reason: `${device} is not usable${hidden}: ${(err as NodeJS.ErrnoException).code ?? "error"}` };
  }
  // kvm_pvm: a software KVM that emulates guest supervisor mode instruction by instruction.
  if (existsSync("/sys/module/kvm_pvm")) {
    return { usable: true, softwareNested: true, reason: "KVM here is software-nested (kvm_pvm): guest kernels run emulated" };
  }
  const hw = existsSync("/sys/module/kvm_intel") || existsSync("/sys/module/kvm_amd");
  return { usable: true, softwareNested: !hw, reason: hw ? "hardware KVM" : "KVM without kvm_intel/kvm_amd" };
}

import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const BUILD = join(dirname(fileURLToPath(import.meta.url)), "..", "build");

/** Where `make -C native` puts the microVM VMM and the guests built from source. */
export function vmmPaths() {
  return { vmm: join(BUILD, "vdi-vmm"), guests: join(BUILD, "guests") };
}

/** The RDP bridge (native/rdp-bridge), built where freerdp2-dev is installed. */
export function rdpBridgePath(): string {
  return join(BUILD, "vdi-rdp-bridge");
}
