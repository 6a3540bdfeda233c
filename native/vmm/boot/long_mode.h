// Puts a vCPU straight into 64-bit long mode with page tables the VMM builds:
// 4 GiB identity-mapped with 2 MiB pages (user-accessible, so guests may drop to CPL 3).
#pragma once
#include <cstdint>

#include "../kvm/kvm.h"
#include "../memory/guest_memory.h"

namespace vmm {

constexpr uint64_t kPml4Addr = 0x9000;       // then PDPT at 0xA000, four PDs at 0xB000..0xE000
constexpr uint64_t kBootGdtAddr = 0x8000;
constexpr uint64_t kBootInfoAddr = 0x7000;   // struct BootInfo for the guest

// What the VMM tells the guest (read by guests at kBootInfoAddr).
struct BootInfo {
  uint64_t magic;        // 0x5644494d564d4d31 "VDIMVMM1"
  uint64_t ramSize;
  uint64_t fbAddr;       // linear framebuffer (Bochs VBE), 0 if none
  uint64_t fbSize;
  uint64_t vmId;         // identity: changes on clone
  uint8_t mac[8];
};

// `linux`: the 64-bit Linux entry wants CS = 0x10 and DS = 0x18 in a loaded GDT, and rsi = boot_params.
void setupLongMode(const KvmSystem& sys, KvmVcpu& vcpu, GuestMemory& mem, uint64_t entry, uint64_t stackTop, uint64_t linuxZeroPage = 0);

}  // namespace vmm
