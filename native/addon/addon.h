// Shared pieces of the vdi_native addon: the per-file init functions, errno errors shaped like
// Node's own (code/errno/syscall), argument checks at the boundary, and an owning fd.
#pragma once

#include <napi.h>

#include <string>

namespace vdi_native {

// One per binding file; vdi_native.cpp calls each from the module's init.
void InitProcess(Napi::Env env, Napi::Object exports);
void InitKvm(Napi::Env env, Napi::Object exports);

// An Error whose message, .code ("ESRCH"), .errno (negative, as Node's fs errors) and .syscall
// read like a NodeJS.ErrnoException, so JS handles native and fs failures the same way.
Napi::Error ErrnoError(Napi::Env env, int err, const char* syscall, const std::string& subject = "");

// An integer in [min, max] at info[index], else a TypeError naming the argument.
int32_t IntArg(const Napi::CallbackInfo& info, size_t index, const char* name, int32_t min, int32_t max);

class UniqueFd {
 public:
  UniqueFd() = default;
  explicit UniqueFd(int fd) : fd_(fd) {}
  UniqueFd(const UniqueFd&) = delete;
  UniqueFd& operator=(const UniqueFd&) = delete;
  UniqueFd(UniqueFd&& o) noexcept : fd_(o.fd_) { o.fd_ = -1; }
  UniqueFd& operator=(UniqueFd&& o) noexcept;
  ~UniqueFd();
  int get() const { return fd_; }
  int release() {
    int fd = fd_;
    fd_ = -1;
    return fd;
  }
  explicit operator bool() const { return fd_ >= 0; }

 private:
  int fd_ = -1;
};

}  // namespace vdi_native
