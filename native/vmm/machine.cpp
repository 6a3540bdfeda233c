#include "machine.h"

#include <csignal>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <iterator>

#include "boot/elf_loader.h"
#include "boot/linux_loader.h"
#include "boot/long_mode.h"

namespace vmm {

namespace {
constexpr uint32_t kMaxReportedUnknownIo = 16;
void onKick(int) {}
}  // namespace

Machine::Machine(const MachineOptions& o) : opts_(o) {
  if (o.memMiB < 2 || o.memMiB > kMaxMemMiB) throw KvmError("memory size out of range (2.." + std::to_string(kMaxMemMiB) + " MiB)", EINVAL);
  vm_ = std::make_unique<KvmVm>(sys_);
  vm_->createIrqchip();
  vm_->createPit();
  ram_ = std::make_unique<GuestMemory>("vdi-ram", o.memMiB << 20);
  fb_ = std::make_unique<GuestMemory>("vdi-fb", kFbSize);
  vm_->setMemoryRegion(kRamSlot, 0, ram_->size(), ram_->host(), true);
  vm_->setMemoryRegion(kFbSlot, kFbAddr, fb_->size(), fb_->host(), true);
  vcpu_ = std::make_unique<KvmVcpu>(sys_, *vm_, 0);

  host_.vm = vm_.get();
  host_.mem = ram_.get();
  host_.serialLogPath = o.serialLog;
  host_.irq = [this](uint32_t irq, bool level) { vm_->irqLine(irq, level); };
  host_.requestExit = [this](int status, const std::string& reason) { stop(status, reason); };
  for (auto& [name, make] : deviceRegistry()) devices_.emplace_back(name, make(host_));

  struct sigaction sa {};
  sa.sa_handler = onKick;  // no SA_RESTART: KVM_RUN returns EINTR
  sigaction(SIGUSR1, &sa, nullptr);
}

Machine::~Machine() {
  stop(status_, reason_.empty() ? "shutdown" : reason_);
  if (thread_.joinable()) thread_.join();
}

Device* Machine::device(const std::string& name) const {
  for (auto& [n, d] : devices_) if (n == name) return d.get();
  return nullptr;
}

void Machine::replaceRam(std::unique_ptr<GuestMemory> ram, std::unique_ptr<GuestMemory> fb) {
  // A slot's host address cannot change in place: delete the slots (size 0), then add them again.
  vm_->setMemoryRegion(kRamSlot, 0, 0, nullptr, false);
  vm_->setMemoryRegion(kFbSlot, kFbAddr, 0, nullptr, false);
  vm_->setMemoryRegion(kRamSlot, 0, ram->size(), ram->host(), true);
  vm_->setMemoryRegion(kFbSlot, kFbAddr, fb->size(), fb->host(), true);
  ram_ = std::move(ram);
  fb_ = std::move(fb);
  host_.mem = ram_.get();
}

static std::vector<uint8_t> readAll(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  if (!f) throw KvmError("cannot open " + path, ENOENT);
  return std::vector<uint8_t>((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
}

void Machine::boot() {
  if (!opts_.linux.empty()) {
    uint64_t entry = 0;
    std::string err = loadLinux(readAll(opts_.linux), opts_.initrd.empty() ? std::vector<uint8_t>{} : readAll(opts_.initrd), opts_.cmdline, *ram_, entry);
    if (!err.empty()) throw KvmError(err, EINVAL);
    setupLongMode(sys_, *vcpu_, *ram_, entry, 0x8ff0, kLinuxZeroPage);
    return;
  }
  std::ifstream f(opts_.kernel, std::ios::binary);
  if (!f) throw KvmError("cannot open guest kernel " + opts_.kernel, ENOENT);
  std::vector<uint8_t> file((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
  ElfImage img;
  std::string err = loadElf64(file, *ram_, img);
  if (!err.empty()) throw KvmError(err, EINVAL);
  BootInfo bi{};
  bi.magic = 0x5644494d564d4d31ULL;
  bi.ramSize = ram_->size();
  bi.fbAddr = kFbAddr;
  bi.fbSize = kFbSize;
  bi.vmId = opts_.vmId;
  std::memcpy(bi.mac, opts_.mac, 6);
  ram_->write(kBootInfoAddr, &bi, sizeof bi);
  // The stack starts at the top of RAM; guests move it where they like.
  setupLongMode(sys_, *vcpu_, *ram_, img.entry, ram_->size() - 16);
}

void Machine::start() {
  state_ = RunState::Running;
  thread_ = std::thread([this] {
    threadId_ = pthread_self();
    vcpuLoop();
  });
}

void Machine::kick() {
  if (thread_.joinable() && threadId_ != pthread_t{}) pthread_kill(threadId_, SIGUSR1);
}

void Machine::pause() {
  std::unique_lock<std::mutex> l(mu_);
  if (state_ != RunState::Running) return;
  pauseRequested_ = true;
  kick();
  cv_.wait(l, [this] { return parked_ || state_ == RunState::Stopped; });
  if (state_ != RunState::Stopped) state_ = RunState::Paused;
}

void Machine::resume() {
  std::lock_guard<std::mutex> l(mu_);
  if (state_ != RunState::Paused) return;
  pauseRequested_ = false;
  state_ = RunState::Running;
  cv_.notify_all();
}

void Machine::stop(int status, const std::string& reason) {
  std::lock_guard<std::mutex> l(mu_);
  if (state_ == RunState::Stopped) return;
  status_ = status;
  reason_ = reason;
  state_ = RunState::Stopped;
  kick();
  cv_.notify_all();
}

int Machine::waitStopped() {
  std::unique_lock<std::mutex> l(mu_);
  cv_.wait(l, [this] { return state_ == RunState::Stopped; });
  return status_;
}

std::string Machine::stopReason() const {
  std::lock_guard<std::mutex> l(mu_);
  return reason_;
}

void Machine::vcpuLoop() {
  // SIGUSR1 stays blocked except inside KVM_RUN: a kick that arrives between our checks and the
  // ioctl stays pending and makes KVM_RUN return EINTR at once, so no kick is ever lost.
  sigset_t block;
  sigemptyset(&block);
  sigaddset(&block, SIGUSR1);
  pthread_sigmask(SIG_BLOCK, &block, nullptr);
  sigset_t inRun;
  pthread_sigmask(SIG_BLOCK, nullptr, &inRun);
  sigdelset(&inRun, SIGUSR1);
  // kvm_signal_mask is {u32 len; u8 sigset[]}: the kernel's sigset is 8 bytes.
  alignas(8) uint8_t mask[4 + 8] = {};
  const uint32_t len = 8;
  std::memcpy(mask, &len, 4);
  std::memcpy(mask + 4, &inRun, 8);
  try {
    KVM_CALL(vcpu_->fd(), kSetSignalMask, mask);
  } catch (const KvmError& e) {
    stop(2, e.what());
  }
  while (state_ != RunState::Stopped) {
    if (pauseRequested_) {
      std::unique_lock<std::mutex> l(mu_);
      parked_ = true;
      cv_.notify_all();
      cv_.wait(l, [this] { return !pauseRequested_ || state_ == RunState::Stopped; });
      parked_ = false;
      continue;
    }
    int r;
    try {
      r = vcpu_->runOnce();
    } catch (const KvmError& e) {
      stop(2, e.what());
      break;
    }
    if (r < 0) {
      // Kicked. KVM returned before the handler could run and the signal is blocked again out
      // here: consume it, or every later KVM_RUN would return EINTR at once (QEMU does the same).
      timespec zero{};
      while (sigtimedwait(&block, nullptr, &zero) > 0) {}
      continue;
    }
    exits_++;
    std::lock_guard<std::mutex> g(vcpuMu_);
    if (!handleExit()) break;
  }
  std::lock_guard<std::mutex> l(mu_);
  parked_ = true;
  cv_.notify_all();
}

bool Machine::handleExit() {
  kvm_run* run = vcpu_->run();
  switch (run->exit_reason) {
    case KVM_EXIT_IO: {
      // SAFETY: data_offset/size/count come from KVM and index into the kvm_run mapping.
      uint8_t* data = reinterpret_cast<uint8_t*>(run) + run->io.data_offset;
      for (uint32_t i = 0; i < run->io.count; i++, data += run->io.size) {
        bool handled = false;
        for (auto& [n, d] : devices_) {
          handled = run->io.direction == KVM_EXIT_IO_OUT ? d->pioOut(run->io.port, data, run->io.size) : d->pioIn(run->io.port, data, run->io.size);
          if (handled) break;
        }
        if (!handled) {
          if (run->io.direction == KVM_EXIT_IO_IN) std::memset(data, 0xff, run->io.size);
          if (unknownIoReports_ < kMaxReportedUnknownIo && ++unknownIoReports_) {
            std::fprintf(stderr, "vmm: unhandled port %s 0x%x\n", run->io.direction == KVM_EXIT_IO_OUT ? "write" : "read", run->io.port);
          }
        }
      }
      return state_ != RunState::Stopped;
    }
    case KVM_EXIT_MMIO: {
      bool handled = false;
      uint32_t len = std::min<uint32_t>(run->mmio.len, 8);
      for (auto& [n, d] : devices_) {
        handled = run->mmio.is_write ? d->mmioWrite(run->mmio.phys_addr, run->mmio.data, len) : d->mmioRead(run->mmio.phys_addr, run->mmio.data, len);
        if (handled) break;
      }
      // Reads of unmapped guest-physical addresses (past RAM, garbage MMIO) see all-ones.
      if (!handled && !run->mmio.is_write) std::memset(run->mmio.data, 0xff, len);
      return true;
    }
    case KVM_EXIT_HLT:
      stop(0, "guest halted");
      return false;
    case KVM_EXIT_SHUTDOWN:
      stop(3, "guest triple-faulted (shutdown)");
      return false;
    case KVM_EXIT_FAIL_ENTRY:
      stop(4, "KVM entry failed (hardware reason 0x" + std::to_string(run->fail_entry.hardware_entry_failure_reason) + ")");
      return false;
    case KVM_EXIT_INTERNAL_ERROR:
      // Under software-nested KVM a fault with no usable IDT ends here rather than in SHUTDOWN.
      stop(5, run->internal.suberror == KVM_INTERNAL_ERROR_EMULATION
                  ? std::string("guest crashed: KVM could not emulate an instruction (a fault with no usable handler?)")
                  : "KVM internal error (suberror " + std::to_string(run->internal.suberror) + ")");
      return false;
    case KVM_EXIT_SYSTEM_EVENT:
      stop(0, "guest system event " + std::to_string(run->system_event.type));
      return false;
    case KVM_EXIT_INTR:
      return true;
    default:
      stop(6, "unexpected KVM exit " + std::to_string(run->exit_reason));
      return false;
  }
}

}  // namespace vmm
