// The one setting the native core reads: which device node is KVM. VDI_KVM_DEVICE=/nonexistent
// hides KVM from the product and the tests alike (both paths of the suite run on one machine).
export const DEFAULT_KVM_DEVICE = "/dev/kvm";

export function kvmDevice(source: Record<string, string | undefined> = process.env): string {
  const v = source.VDI_KVM_DEVICE?.trim();
  return v ? v : DEFAULT_KVM_DEVICE;
}
