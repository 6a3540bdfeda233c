// libFuzzer target: the ELF loader against a small guest memory.
#include <cstdint>
#include <vector>

#include "../../native/vmm/boot/elf_loader.h"

using namespace vmm;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static GuestMemory mem("fuzz", 2 << 20);
  std::vector<uint8_t> f(data, data + size);
  ElfImage img;
  if (loadElf64(f, mem, img).empty() && !mem.contains(img.entry, 1)) __builtin_trap();
  return 0;
}
