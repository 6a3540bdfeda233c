// The vdi_native Node-API addon: what the node agent needs from Linux that Node does not expose.
// Context-aware (NODE_API_MODULE) and free of mutable globals, so each worker thread that loads it
// gets its own independent instance.
#include <napi.h>

#include <cerrno>
#include <cstring>
#include <unistd.h>

#include "addon.h"

namespace vdi_native {

Napi::Error ErrnoError(Napi::Env env, int err, const char* syscall, const std::string& subject) {
  // strerrorname_np/strerrordesc_np (glibc 2.32) are thread-safe, unlike strerror.
  const char* name = ::strerrorname_np(err);
  const char* desc = ::strerrordesc_np(err);
  std::string code = name ? name : "E" + std::to_string(err);
  std::string message = code + ": " + (desc ? desc : "unknown error") + ", " + syscall;
  if (!subject.empty()) message += " " + subject;
  Napi::Error e = Napi::Error::New(env, message);
  e.Set("code", Napi::String::New(env, code));
  e.Set("errno", Napi::Number::New(env, -err));
  e.Set("syscall", Napi::String::New(env, syscall));
  return e;
}

int32_t IntArg(const Napi::CallbackInfo& info, size_t index, const char* name, int32_t min, int32_t max) {
  Napi::Env env = info.Env();
  if (info.Length() <= index || !info[index].IsNumber()) {
    throw Napi::TypeError::New(env, std::string(name) + " must be a number");
  }
  double v = info[index].As<Napi::Number>().DoubleValue();
  if (!(v >= min && v <= max) || v != static_cast<double>(static_cast<int64_t>(v))) {
    throw Napi::TypeError::New(env, std::string(name) + " must be an integer in [" + std::to_string(min) + ", " +
                                        std::to_string(max) + "], got " + info[index].ToString().Utf8Value());
  }
  return static_cast<int32_t>(v);
}

UniqueFd& UniqueFd::operator=(UniqueFd&& o) noexcept {
  if (this != &o) {
    if (fd_ >= 0) ::close(fd_);
    fd_ = o.fd_;
    o.fd_ = -1;
  }
  return *this;
}

UniqueFd::~UniqueFd() {
  if (fd_ >= 0) ::close(fd_);
}

}  // namespace vdi_native

static Napi::Object Init(Napi::Env env, Napi::Object exports) {
  vdi_native::InitProcess(env, exports);
  vdi_native::InitKvm(env, exports);
  return exports;
}

NODE_API_MODULE(vdi_native, Init)
