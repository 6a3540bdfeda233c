// Debug/exit port for test guests (0xF4, like QEMU's isa-debug-exit): writing v ends the VM
// with exit status (v << 1) | 1, so 0 → 1 means "pass", anything else a numbered failure.
#pragma once
#include <functional>
#include <string>

#include "../device.h"

namespace vmm {

class DebugExit : public Device {
 public:
  static constexpr uint16_t kPort = 0xf4;
  // The same, as MMIO: user-mode (CPL 3) guest code cannot use port I/O, but an MMIO store
  // outside RAM exits to the VMM. kMmioPutc writes one byte to the serial console.
  static constexpr uint64_t kMmioExit = 0xfebf0000ULL, kMmioPutc = 0xfebf0008ULL;
  // A store here means "idle": the vCPU thread sleeps briefly instead of the guest spinning.
  static constexpr uint64_t kMmioIdle = 0xfebf0010ULL;
  static constexpr int kIdleMicros = 4000;
  DebugExit(std::function<void(int, const std::string&)> exit, std::function<void(uint8_t)> putc)
      : exit_(std::move(exit)), putc_(std::move(putc)) {}
  bool mmioWrite(uint64_t addr, const uint8_t* data, uint32_t size) override;
  bool mmioRead(uint64_t addr, uint8_t* data, uint32_t size) override;
  const char* name() const override { return "debug_exit"; }
  bool pioOut(uint16_t port, const uint8_t* data, uint32_t size) override;
  bool pioIn(uint16_t port, uint8_t* data, uint32_t size) override;
  void save(StateWriter&) const override {}
  bool restore(StateReader&) override { return true; }
  void reset() override {}
 private:
  std::function<void(int, const std::string&)> exit_;
  std::function<void(uint8_t)> putc_;
};

}  // namespace vmm
