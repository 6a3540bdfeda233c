// Linux x86 boot protocol (Documentation/arch/x86/boot.rst), 64-bit entry: loads a bzImage's
// protected-mode kernel at 1 MiB, an initrd high in RAM, and builds boot_params (the "zero page")
// with an e820 map and the command line. Every header field from the file is checked.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "../memory/guest_memory.h"

namespace vmm {

constexpr uint64_t kLinuxZeroPage = 0x10000;
constexpr uint64_t kLinuxCmdline = 0x20000;
constexpr uint64_t kLinuxKernelAddr = 0x100000;
constexpr size_t kMaxCmdline = 2048;

struct LinuxSetupHeader {
  uint8_t setupSects = 0;
  uint16_t version = 0;
  uint8_t loadflags = 0;
  uint16_t xloadflags = 0;
  uint32_t initrdAddrMax = 0;
  uint32_t kernelAlignment = 0;
  uint64_t prefAddress = 0;
  uint32_t initSize = 0;
};

// Parses and checks the setup header; "" or why the file is not a bootable 64-bit bzImage.
std::string parseBzImage(const std::vector<uint8_t>& file, LinuxSetupHeader& hdr);

// Loads kernel, initrd and boot_params; returns "" and the 64-bit entry point.
std::string loadLinux(const std::vector<uint8_t>& bzImage, const std::vector<uint8_t>& initrd, const std::string& cmdline,
                      GuestMemory& mem, uint64_t& entry);

}  // namespace vmm
