// Loads a static 64-bit ELF executable into guest RAM; every header field is checked.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "../memory/guest_memory.h"

namespace vmm {

struct ElfImage {
  uint64_t entry = 0;
  uint64_t lowest = 0;
  uint64_t highest = 0;
};

// Returns an error message, or "" on success.
std::string loadElf64(const std::vector<uint8_t>& file, GuestMemory& mem, ElfImage& out);

}  // namespace vmm
