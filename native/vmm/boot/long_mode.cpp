#include "long_mode.h"

#include <cstring>
#include <vector>

namespace vmm {

static void writeU64(GuestMemory& mem, uint64_t gpa, uint64_t v) { mem.write(gpa, &v, 8); }

void setupLongMode(const KvmSystem& sys, KvmVcpu& vcpu, GuestMemory& mem, uint64_t entry, uint64_t stackTop, uint64_t linuxZeroPage) {
  constexpr uint64_t P = 1, RW = 2, US = 4, PS = 0x80;
  const uint64_t pdpt = kPml4Addr + 0x1000;
  writeU64(mem, kPml4Addr, pdpt | P | RW | US);
  for (uint64_t g = 0; g < 4; g++) {
    const uint64_t pd = pdpt + 0x1000 * (g + 1);
    writeU64(mem, pdpt + g * 8, pd | P | RW | US);
    for (uint64_t i = 0; i < 512; i++) writeU64(mem, pd + i * 8, ((g << 30) + (i << 21)) | P | RW | US | PS);
  }
  // Boot GDT: null, 64-bit code, data. Guests install their own; this one only backs the reload.
  const uint64_t gdtOurs[3] = {0, 0x00af9a000000ffffULL, 0x00cf92000000ffffULL};
  const uint64_t gdtLinux[4] = {0, 0, 0x00af9a000000ffffULL, 0x00cf92000000ffffULL};  // __BOOT_CS 0x10, __BOOT_DS 0x18
  const void* gdt = linuxZeroPage ? (const void*)gdtLinux : (const void*)gdtOurs;
  const uint16_t gdtSize = linuxZeroPage ? sizeof gdtLinux : sizeof gdtOurs;
  mem.write(kBootGdtAddr, gdt, gdtSize);

  // The CPUID KVM supports, so the guest may set EFER.LME (KVM checks CPUID.LM).
  std::vector<uint8_t> cpuid = sys.supportedCpuid();
  KVM_CALL(vcpu.fd(), kSetCpuid2, cpuid.data());

  kvm_sregs s{};
  KVM_CALL(vcpu.fd(), KVM_GET_SREGS, &s);
  kvm_segment code{};
  code.base = 0; code.limit = 0xffffffff; code.selector = 0x8; code.type = 11; code.present = 1;
  code.dpl = 0; code.db = 0; code.s = 1; code.l = 1; code.g = 1;
  if (linuxZeroPage) code.selector = 0x10;
  kvm_segment data = code;
  data.type = 3; data.selector = linuxZeroPage ? 0x18 : 0x10; data.l = 0; data.db = 1;
  s.cs = code;
  s.ds = s.es = s.fs = s.gs = s.ss = data;
  s.gdt.base = kBootGdtAddr; s.gdt.limit = (uint16_t)(gdtSize - 1);
  s.cr3 = kPml4Addr;
  s.cr4 = 0x20 | 0x200 | 0x400;        // PAE, OSFXSR, OSXMMEXCPT
  s.cr0 = 0x80000001 | 0x2 | 0x10 | 0x20;  // PG, PE, MP, ET, NE
  s.efer = 0x500;                      // LME | LMA
  KVM_CALL(vcpu.fd(), KVM_SET_SREGS, &s);

  kvm_regs r{};
  r.rip = entry;
  r.rsp = stackTop;
  r.rdi = kBootInfoAddr;
  r.rsi = linuxZeroPage;
  r.rflags = 2;
  KVM_CALL(vcpu.fd(), KVM_SET_REGS, &r);
}

}  // namespace vmm
