#include "elf_loader.h"
#include "../../tests/test.h"

#include <cstring>
#include <elf.h>

using namespace vmm;

static std::vector<uint8_t> elf(uint64_t paddr, uint64_t filesz, uint64_t memsz, uint64_t entry) {
  std::vector<uint8_t> f(sizeof(Elf64_Ehdr) + sizeof(Elf64_Phdr) + filesz, 0x90);
  Elf64_Ehdr eh{};
  std::memcpy(eh.e_ident, ELFMAG, SELFMAG);
  eh.e_ident[EI_CLASS] = ELFCLASS64; eh.e_ident[EI_DATA] = ELFDATA2LSB;
  eh.e_type = ET_EXEC; eh.e_machine = EM_X86_64; eh.e_entry = entry;
  eh.e_phoff = sizeof eh; eh.e_phentsize = sizeof(Elf64_Phdr); eh.e_phnum = 1;
  Elf64_Phdr ph{};
  ph.p_type = PT_LOAD; ph.p_offset = sizeof eh + sizeof ph; ph.p_paddr = paddr; ph.p_filesz = filesz; ph.p_memsz = memsz;
  std::memcpy(f.data(), &eh, sizeof eh);
  std::memcpy(f.data() + sizeof eh, &ph, sizeof ph);
  return f;
}

TEST(elf_loader_loads_and_refuses_bad_files) {
  GuestMemory mem("t", 4 << 20);
  ElfImage img;
  CHECK(loadElf64(elf(0x100000, 16, 32, 0x100000), mem, img).empty() && img.entry == 0x100000);
  CHECK(*mem.at(0x100000, 1) == 0x90 && *mem.at(0x100010, 1) == 0);
  CHECK(!loadElf64(elf(4 << 20, 16, 16, 0x100000), mem, img).empty());          // outside RAM
  CHECK(!loadElf64(elf(UINT64_MAX - 8, 16, 16, 0x100000), mem, img).empty());   // wraps around
  CHECK(!loadElf64(elf(0x100000, 16, 8, 0x100000), mem, img).empty());          // filesz > memsz
  CHECK(!loadElf64(elf(0x100000, 16, 16, 8 << 20), mem, img).empty());          // entry outside RAM
  auto f = elf(0x100000, 16, 16, 0x100000);
  f.resize(sizeof(Elf64_Ehdr) + 10);
  CHECK(!loadElf64(f, mem, img).empty());                                       // truncated
  f[0] = 0;
  CHECK(loadElf64(f, mem, img).find("magic") != std::string::npos);
}
