// Thin, checked wrappers over the KVM ioctls: every call reports its errno in a KvmError.
#pragma once
#include <linux/kvm.h>
#include <cstdint>
#include <stdexcept>
#include <string>
#include <vector>

namespace vmm {

// Ioctls whose argument ends in a flexible array: g++ sizes those structs differently from the
// kernel's C headers, and KVM matches the request number (which encodes the size) exactly.
constexpr unsigned long kGetSupportedCpuid = _IOC(_IOC_READ | _IOC_WRITE, KVMIO, 0x05, 8);
constexpr unsigned long kSetCpuid2 = _IOC(_IOC_WRITE, KVMIO, 0x90, 8);
constexpr unsigned long kGetMsrs = _IOC(_IOC_READ | _IOC_WRITE, KVMIO, 0x88, 8);
constexpr unsigned long kSetMsrs = _IOC(_IOC_WRITE, KVMIO, 0x89, 8);
constexpr unsigned long kSetSignalMask = _IOC(_IOC_WRITE, KVMIO, 0x8b, 4);
constexpr unsigned long kGetXsave = _IOC(_IOC_READ, KVMIO, 0xa4, 4096);
constexpr unsigned long kSetXsave = _IOC(_IOC_WRITE, KVMIO, 0xa5, 4096);

class KvmError : public std::runtime_error {
 public:
  KvmError(const std::string& what, int err);
  int err;
};

// Issues an ioctl and throws KvmError (with the request's name and errno) when it fails.
long checkedIoctl(int fd, unsigned long req, void* arg, const char* name);
#define KVM_CALL(fd, req, arg) ::vmm::checkedIoctl((fd), (req), (void*)(arg), #req)

class Fd {
 public:
  Fd() = default;
  explicit Fd(int fd) : fd_(fd) {}
  Fd(const Fd&) = delete;
  Fd& operator=(const Fd&) = delete;
  Fd(Fd&& o) noexcept : fd_(o.fd_) { o.fd_ = -1; }
  Fd& operator=(Fd&& o) noexcept;
  ~Fd();
  int get() const { return fd_; }
  explicit operator bool() const { return fd_ >= 0; }
 private:
  int fd_ = -1;
};

class KvmSystem {
 public:
  KvmSystem();  // opens /dev/kvm and checks the API version
  int fd() const { return fd_.get(); }
  int checkExtension(long cap) const;
  int vcpuMmapSize() const;
  std::vector<uint8_t> supportedCpuid() const;  // raw struct kvm_cpuid2
 private:
  Fd fd_;
};

class KvmVm {
 public:
  explicit KvmVm(const KvmSystem& sys);
  int fd() const { return fd_.get(); }
  void setMemoryRegion(uint32_t slot, uint64_t gpa, uint64_t size, void* host, bool logDirty);
  void createIrqchip();
  void createPit();
  void irqLine(uint32_t irq, bool level);
  // Returns the dirty bitmap (one bit per 4 KiB page) of a slot and clears it in KVM.
  std::vector<uint64_t> dirtyLog(uint32_t slot, uint64_t size) const;
 private:
  Fd fd_;
};

class KvmVcpu {
 public:
  KvmVcpu(const KvmSystem& sys, const KvmVm& vm, int index);
  ~KvmVcpu();
  int fd() const { return fd_.get(); }
  kvm_run* run() const { return run_; }
  int runOnce();  // KVM_RUN: returns 0 or -errno (EINTR/EAGAIN are not errors here)
 private:
  Fd fd_;
  kvm_run* run_ = nullptr;
  size_t runSize_ = 0;
};

}  // namespace vmm
