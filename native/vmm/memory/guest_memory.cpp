#include "guest_memory.h"

#include <cerrno>
#include <cstring>
#include <sys/mman.h>
#include <unistd.h>

#include "../kvm/kvm.h"

namespace vmm {

GuestMemory::GuestMemory(const std::string& name, uint64_t size) : size_(size) {
  fd_ = ::memfd_create(name.c_str(), MFD_CLOEXEC);
  if (fd_ < 0) throw KvmError("memfd_create", errno);
  if (::ftruncate(fd_, (off_t)size) < 0) throw KvmError("ftruncate guest RAM", errno);
  void* p = ::mmap(nullptr, size, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_NORESERVE, fd_, 0);
  if (p == MAP_FAILED) throw KvmError("mmap guest RAM", errno);
  base_ = static_cast<uint8_t*>(p);
}

GuestMemory::GuestMemory(int fd, uint64_t offset, uint64_t size) : size_(size) {
  void* p = ::mmap(nullptr, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_NORESERVE, fd, (off_t)offset);
  if (p == MAP_FAILED) throw KvmError("mmap snapshot RAM", errno);
  base_ = static_cast<uint8_t*>(p);
}

GuestMemory::~GuestMemory() {
  if (base_) ::munmap(base_, size_);
  if (fd_ >= 0) ::close(fd_);
}

bool GuestMemory::read(uint64_t gpa, void* dst, uint64_t len) const {
  const uint8_t* p = at(gpa, len);
  if (!p) return false;
  std::memcpy(dst, p, len);
  return true;
}

bool GuestMemory::write(uint64_t gpa, const void* src, uint64_t len) {
  uint8_t* p = at(gpa, len);
  if (!p) return false;
  std::memcpy(p, src, len);
  return true;
}

}  // namespace vmm
