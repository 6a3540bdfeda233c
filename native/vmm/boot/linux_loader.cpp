#include "linux_loader.h"

#include <cstring>

namespace vmm {

namespace {
// Offsets in boot_params / the setup header (boot.rst, "The real-mode kernel header").
constexpr size_t kSetupSects = 0x1f1, kBootFlag = 0x1fe, kHeaderMagic = 0x202, kVersion = 0x206, kTypeOfLoader = 0x210,
                 kLoadflags = 0x211, kRamdiskImage = 0x218, kRamdiskSize = 0x21c, kHeapEndPtr = 0x224, kCmdLinePtr = 0x228,
                 kInitrdAddrMax = 0x22c, kKernelAlignment = 0x230, kXloadflags = 0x236, kCmdlineSize = 0x238,
                 kPrefAddress = 0x258, kInitSize = 0x260, kE820Entries = 0x1e8, kE820Table = 0x2d0, kSetupHeaderEnd = 0x268;
constexpr uint16_t kMinVersion = 0x020c;  // 64-bit entry and xloadflags
constexpr uint8_t LOADED_HIGH = 1, CAN_USE_HEAP = 0x80;
constexpr uint16_t XLF_KERNEL_64 = 1;

template <typename T> T rd(const std::vector<uint8_t>& f, size_t off) {
  T v;
  std::memcpy(&v, f.data() + off, sizeof v);
  return v;
}
}  // namespace

std::string parseBzImage(const std::vector<uint8_t>& f, LinuxSetupHeader& h) {
  if (f.size() < kSetupHeaderEnd + 512) return "Linux: file too small for a bzImage";
  if (rd<uint16_t>(f, kBootFlag) != 0xaa55) return "Linux: no boot flag";
  if (std::memcmp(f.data() + kHeaderMagic, "HdrS", 4) != 0) return "Linux: no HdrS setup header";
  h.version = rd<uint16_t>(f, kVersion);
  if (h.version < kMinVersion) return "Linux: boot protocol too old (need 2.12 for the 64-bit entry)";
  h.setupSects = f[kSetupSects] ? f[kSetupSects] : 4;
  h.loadflags = f[kLoadflags];
  h.xloadflags = rd<uint16_t>(f, kXloadflags);
  if (!(h.loadflags & LOADED_HIGH)) return "Linux: not a bzImage (zImage loads low)";
  if (!(h.xloadflags & XLF_KERNEL_64)) return "Linux: kernel has no 64-bit entry point";
  h.initrdAddrMax = rd<uint32_t>(f, kInitrdAddrMax);
  h.kernelAlignment = rd<uint32_t>(f, kKernelAlignment);
  h.prefAddress = rd<uint64_t>(f, kPrefAddress);
  h.initSize = rd<uint32_t>(f, kInitSize);
  if ((uint64_t)(h.setupSects + 1) * 512 >= f.size()) return "Linux: setup sectors exceed the file";
  return "";
}

std::string loadLinux(const std::vector<uint8_t>& f, const std::vector<uint8_t>& initrd, const std::string& cmdline, GuestMemory& mem,
                      uint64_t& entry) {
  LinuxSetupHeader h;
  std::string err = parseBzImage(f, h);
  if (!err.empty()) return err;
  if (cmdline.size() >= kMaxCmdline) return "Linux: command line too long";
  const uint64_t setupBytes = (uint64_t)(h.setupSects + 1) * 512;
  const uint64_t kernelBytes = f.size() - setupBytes;
  // The kernel decompresses in place and needs init_size bytes from its load address.
  if (!mem.contains(kLinuxKernelAddr, std::max<uint64_t>(kernelBytes, h.initSize))) return "Linux: guest RAM too small for this kernel";
  mem.write(kLinuxKernelAddr, f.data() + setupBytes, kernelBytes);

  // boot_params: zeroed, then the file's setup header copied in, then our fields.
  std::vector<uint8_t> zp(4096, 0);
  const size_t hdrLen = std::min<size_t>(kSetupHeaderEnd, f.size()) - kSetupSects;
  std::memcpy(zp.data() + kSetupSects, f.data() + kSetupSects, hdrLen);
  auto put32 = [&](size_t off, uint32_t v) { std::memcpy(zp.data() + off, &v, 4); };
  zp[kTypeOfLoader] = 0xff;
  zp[kLoadflags] = (uint8_t)(h.loadflags | CAN_USE_HEAP);
  std::memcpy(zp.data() + kHeapEndPtr, "\x00\xfe", 2);  // heap end 0xfe00 (boot.rst's suggestion)
  put32(kCmdLinePtr, (uint32_t)kLinuxCmdline);
  (void)kCmdlineSize;
  mem.write(kLinuxCmdline, cmdline.c_str(), cmdline.size() + 1);
  if (!initrd.empty()) {
    uint64_t top = std::min<uint64_t>(mem.size(), (uint64_t)h.initrdAddrMax + 1);
    if (initrd.size() > top) return "Linux: initrd does not fit below initrd_addr_max";
    uint64_t addr = (top - initrd.size()) & ~0xfffULL;
    if (addr < kLinuxKernelAddr + std::max<uint64_t>(kernelBytes, h.initSize)) return "Linux: initrd overlaps the kernel (give the VM more memory)";
    mem.write(addr, initrd.data(), initrd.size());
    put32(kRamdiskImage, (uint32_t)addr);
    put32(kRamdiskSize, (uint32_t)initrd.size());
  }
  // e820: low memory below the EBDA, and everything from 1 MiB up.
  struct __attribute__((packed)) E820 { uint64_t addr, size; uint32_t type; };
  E820 map[2] = {{0, 0x9fc00, 1}, {0x100000, mem.size() - 0x100000, 1}};
  zp[kE820Entries] = 2;
  std::memcpy(zp.data() + kE820Table, map, sizeof map);
  mem.write(kLinuxZeroPage, zp.data(), zp.size());
  entry = kLinuxKernelAddr + 0x200;  // the 64-bit entry point (startup_64)
  return "";
}

}  // namespace vmm
