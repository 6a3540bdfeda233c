// A microVM: KVM VM with one vCPU, RAM, a framebuffer slot, and the registered devices.
// The vCPU runs on its own thread; pause/resume/stop kick it out of KVM_RUN.
#pragma once
#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <memory>
#include <mutex>
#include <pthread.h>
#include <string>
#include <thread>
#include <vector>

#include "devices/device.h"
#include "kvm/kvm.h"
#include "memory/guest_memory.h"

namespace vmm {

struct MachineOptions {
  std::string kernel;          // 64-bit ELF guest
  std::string linux;           // or a Linux bzImage (64-bit boot protocol) ...
  std::string initrd;          // ... with this initrd
  std::string cmdline;         // ... and command line
  uint64_t memMiB = 64;
  std::string serialLog;
  uint64_t vmId = 0;
  uint8_t mac[6] = {0x52, 0x54, 0x00, 0, 0, 0};
};

constexpr uint64_t kMaxMemMiB = 16384;
constexpr uint64_t kFbAddr = 0xE0000000ULL;
constexpr uint64_t kFbSize = 16ULL << 20;   // enough for 1920x1080x32 twice over
constexpr uint32_t kRamSlot = 0, kFbSlot = 1;

enum class RunState { Running, Paused, Stopped };

class Machine {
 public:
  explicit Machine(const MachineOptions& o);
  ~Machine();

  void boot();                         // load the kernel and enter long mode
  void start();                        // start the vCPU thread
  void pause();
  void resume();
  void stop(int status, const std::string& reason);
  int waitStopped();                   // blocks; returns exit status
  RunState state() const { return state_.load(); }
  std::string stopReason() const;

  KvmSystem& sys() { return sys_; }
  KvmVm& vm() { return *vm_; }
  KvmVcpu& vcpu() { return *vcpu_; }
  GuestMemory& ram() { return *ram_; }
  GuestMemory& fb() { return *fb_; }
  Device* device(const std::string& name) const;
  const std::vector<std::pair<std::string, std::unique_ptr<Device>>>& devices() const { return devices_; }
  std::mutex& vcpuMutex() { return vcpuMu_; }  // held while the vCPU is outside KVM_RUN handling state
  uint64_t exits() const { return exits_.load(); }
  const MachineOptions& options() const { return opts_; }
  void replaceRam(std::unique_ptr<GuestMemory> ram, std::unique_ptr<GuestMemory> fb);

 private:
  void vcpuLoop();
  bool handleExit();
  void kick();

  MachineOptions opts_;
  KvmSystem sys_;
  std::unique_ptr<KvmVm> vm_;
  std::unique_ptr<GuestMemory> ram_, fb_;
  std::unique_ptr<KvmVcpu> vcpu_;
  DeviceHost host_;
  std::vector<std::pair<std::string, std::unique_ptr<Device>>> devices_;
  std::thread thread_;
  pthread_t threadId_{};
  std::atomic<RunState> state_{RunState::Paused};
  std::atomic<bool> pauseRequested_{false};
  std::atomic<uint64_t> exits_{0};
  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::mutex vcpuMu_;
  bool parked_ = false;
  int status_ = 0;
  std::string reason_;
  uint32_t unknownIoReports_ = 0;
};

}  // namespace vmm
