#include "elf_loader.h"

#include <cstring>
#include <elf.h>

namespace vmm {

static constexpr uint16_t kMaxProgramHeaders = 64;

std::string loadElf64(const std::vector<uint8_t>& file, GuestMemory& mem, ElfImage& out) {
  if (file.size() < sizeof(Elf64_Ehdr)) return "ELF: file too small";
  Elf64_Ehdr eh;
  std::memcpy(&eh, file.data(), sizeof eh);
  if (std::memcmp(eh.e_ident, ELFMAG, SELFMAG) != 0) return "ELF: bad magic";
  if (eh.e_ident[EI_CLASS] != ELFCLASS64 || eh.e_ident[EI_DATA] != ELFDATA2LSB) return "ELF: not 64-bit little-endian";
  if (eh.e_machine != EM_X86_64 || eh.e_type != ET_EXEC) return "ELF: not an x86-64 executable";
  if (eh.e_phentsize != sizeof(Elf64_Phdr) || eh.e_phnum == 0 || eh.e_phnum > kMaxProgramHeaders) return "ELF: bad program headers";
  if (eh.e_phoff > file.size() || (uint64_t)eh.e_phnum * sizeof(Elf64_Phdr) > file.size() - eh.e_phoff) return "ELF: program headers past end of file";
  out.lowest = UINT64_MAX;
  out.highest = 0;
  for (uint16_t i = 0; i < eh.e_phnum; i++) {
    Elf64_Phdr ph;
    std::memcpy(&ph, file.data() + eh.e_phoff + i * sizeof ph, sizeof ph);
    if (ph.p_type != PT_LOAD || ph.p_memsz == 0) continue;
    if (ph.p_filesz > ph.p_memsz) return "ELF: segment file size exceeds memory size";
    if (ph.p_offset > file.size() || ph.p_filesz > file.size() - ph.p_offset) return "ELF: segment past end of file";
    if (!mem.contains(ph.p_paddr, ph.p_memsz)) return "ELF: segment outside guest RAM";
    std::memset(mem.at(ph.p_paddr, ph.p_memsz), 0, ph.p_memsz);
    mem.write(ph.p_paddr, file.data() + ph.p_offset, ph.p_filesz);
    out.lowest = std::min<uint64_t>(out.lowest, ph.p_paddr);
    out.highest = std::max<uint64_t>(out.highest, ph.p_paddr + ph.p_memsz);
  }
  if (out.highest == 0) return "ELF: no loadable segment";
  if (!mem.contains(eh.e_entry, 1)) return "ELF: entry point outside guest RAM";
  out.entry = eh.e_entry;
  return "";
}

}  // namespace vmm
