// Guest RAM backed by a memfd (shareable, saveable, mappable lazily from a snapshot file).
// Every access by guest-physical address goes through the bounds-checked accessors here.
#pragma once
#include <cstddef>
#include <cstdint>
#include <string>

namespace vmm {

class GuestMemory {
 public:
  // Fresh zeroed RAM of `size` bytes in a memfd.
  GuestMemory(const std::string& name, uint64_t size);
  // RAM mapped privately (copy-on-write, lazily paged in) from `fd` at `offset`: snapshot restore.
  GuestMemory(int fd, uint64_t offset, uint64_t size);
  ~GuestMemory();
  GuestMemory(const GuestMemory&) = delete;
  GuestMemory& operator=(const GuestMemory&) = delete;

  uint64_t size() const { return size_; }
  uint8_t* host() const { return base_; }
  int fd() const { return fd_; }

  // True if [gpa, gpa+len) lies inside RAM (overflow-safe).
  bool contains(uint64_t gpa, uint64_t len) const { return len <= size_ && gpa <= size_ - len; }
  // Pointer to [gpa, gpa+len) or nullptr when any byte lies outside RAM.
  uint8_t* at(uint64_t gpa, uint64_t len) const { return contains(gpa, len) ? base_ + gpa : nullptr; }
  bool read(uint64_t gpa, void* dst, uint64_t len) const;
  bool write(uint64_t gpa, const void* src, uint64_t len);

 private:
  uint8_t* base_ = nullptr;
  uint64_t size_ = 0;
  int fd_ = -1;
};

}  // namespace vmm
