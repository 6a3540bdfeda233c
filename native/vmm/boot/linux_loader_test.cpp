#include "linux_loader.h"
#include "../../tests/test.h"

#include <cstring>
#include <fstream>
#include <iterator>

using namespace vmm;

static std::vector<uint8_t> fakeBzImage(uint16_t version, uint16_t xload) {
  std::vector<uint8_t> f(64 * 1024, 0);
  f[0x1f1] = 4;
  f[0x1fe] = 0x55; f[0x1ff] = 0xaa;
  std::memcpy(f.data() + 0x202, "HdrS", 4);
  std::memcpy(f.data() + 0x206, &version, 2);
  f[0x211] = 1;
  std::memcpy(f.data() + 0x236, &xload, 2);
  uint32_t maxInitrd = 0x37ffffff, initSize = 1 << 20;
  std::memcpy(f.data() + 0x22c, &maxInitrd, 4);
  std::memcpy(f.data() + 0x260, &initSize, 4);
  return f;
}

TEST(linux_header_checks) {
  LinuxSetupHeader h;
  CHECK(parseBzImage(fakeBzImage(0x020f, 1), h).empty() && h.setupSects == 4);
  CHECK(parseBzImage(fakeBzImage(0x0200, 1), h).find("too old") != std::string::npos);
  CHECK(parseBzImage(fakeBzImage(0x020f, 0), h).find("64-bit") != std::string::npos);
  std::vector<uint8_t> tiny(100, 0);
  CHECK(!parseBzImage(tiny, h).empty());
}

TEST(linux_load_builds_boot_params) {
  GuestMemory mem("linux", 64 << 20);
  uint64_t entry = 0;
  std::vector<uint8_t> initrd(100000, 0x42);
  CHECK(loadLinux(fakeBzImage(0x020f, 1), initrd, "console=ttyS0", mem, entry).empty());
  CHECK(entry == 0x100200);
  CHECK(std::memcmp(mem.at(kLinuxCmdline, 14), "console=ttyS0", 14) == 0);
  uint32_t rdAddr, rdSize;
  mem.read(kLinuxZeroPage + 0x218, &rdAddr, 4);
  mem.read(kLinuxZeroPage + 0x21c, &rdSize, 4);
  CHECK(rdSize == initrd.size() && rdAddr % 4096 == 0 && *mem.at(rdAddr, 1) == 0x42);
  CHECK(*mem.at(kLinuxZeroPage + 0x1e8, 1) == 2);
  GuestMemory small("small", 1 << 20);
  CHECK(!loadLinux(fakeBzImage(0x020f, 1), {}, "", small, entry).empty());
}

// The real Debian kernel the QEMU template uses, when it has been built.
TEST(linux_parses_debian_kernel) {
  std::ifstream in("../var/images/debian-shell/vmlinuz", std::ios::binary);
  if (!in) { std::printf("  (skipped: ../var/images/debian-shell/vmlinuz not built)\n"); return; }
  std::vector<uint8_t> f((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  LinuxSetupHeader h;
  CHECK(parseBzImage(f, h).empty());
  CHECK(h.version >= 0x020c && (h.xloadflags & 1));
}
