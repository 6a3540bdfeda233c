// KVM's capability ioctls, for the node agent to report what this host's KVM can do before it
// starts a VMM (and to say why not, by errno, when the device cannot be opened).
#include <napi.h>

#include <cerrno>
#include <string>

#include <fcntl.h>
#include <linux/kvm.h>
#include <sys/ioctl.h>

#include "addon.h"

namespace vdi_native {
namespace {

struct KvmCap {
  const char* name;
  int cap;
};

// The capabilities the VMM relies on or sizes itself by; the names are the kernel's.
constexpr KvmCap kCaps[] = {
    {"KVM_CAP_USER_MEMORY", KVM_CAP_USER_MEMORY},       {"KVM_CAP_NR_VCPUS", KVM_CAP_NR_VCPUS},
    {"KVM_CAP_MAX_VCPUS", KVM_CAP_MAX_VCPUS},           {"KVM_CAP_IRQCHIP", KVM_CAP_IRQCHIP},
    {"KVM_CAP_SET_TSS_ADDR", KVM_CAP_SET_TSS_ADDR},     {"KVM_CAP_IMMEDIATE_EXIT", KVM_CAP_IMMEDIATE_EXIT},
    {"KVM_CAP_NR_MEMSLOTS", KVM_CAP_NR_MEMSLOTS},       {"KVM_CAP_PIT2", KVM_CAP_PIT2},
    {"KVM_CAP_ADJUST_CLOCK", KVM_CAP_ADJUST_CLOCK},
};

int Ioctl(Napi::Env env, int fd, unsigned long req, unsigned long arg, const char* what, const std::string& device) {
  int r;
  do {
    r = ::ioctl(fd, req, arg);
  } while (r < 0 && errno == EINTR);
  if (r < 0) {
    Napi::Error e = ErrnoError(env, errno, "ioctl", std::string(what) + " '" + device + "'");
    e.Set("path", Napi::String::New(env, device));
    throw e;
  }
  return r;
}

Napi::Value KvmCapabilities(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() < 1 || !info[0].IsString()) throw Napi::TypeError::New(env, "device must be a string");
  std::string device = info[0].As<Napi::String>().Utf8Value();
  UniqueFd kvm(::open(device.c_str(), O_RDWR | O_CLOEXEC));
  if (!kvm) {
    Napi::Error e = ErrnoError(env, errno, "open", "'" + device + "'");
    e.Set("path", Napi::String::New(env, device));
    throw e;
  }
  Napi::Object result = Napi::Object::New(env);
  result.Set("apiVersion", Ioctl(env, kvm.get(), KVM_GET_API_VERSION, 0, "KVM_GET_API_VERSION", device));
  result.Set("vcpuMmapSize", Ioctl(env, kvm.get(), KVM_GET_VCPU_MMAP_SIZE, 0, "KVM_GET_VCPU_MMAP_SIZE", device));
  Napi::Object caps = Napi::Object::New(env);
  for (const KvmCap& c : kCaps) {
    caps.Set(c.name, Ioctl(env, kvm.get(), KVM_CHECK_EXTENSION, static_cast<unsigned long>(c.cap), c.name, device));
  }
  result.Set("caps", caps);
  return result;
}

}  // namespace

void InitKvm(Napi::Env env, Napi::Object exports) {
  exports.Set("kvmCapabilities", Napi::Function::New(env, KvmCapabilities, "kvmCapabilities"));
}

}  // namespace vdi_native
