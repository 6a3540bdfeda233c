// 16550A UART at COM1 (0x3F8, IRQ 4): output to the console log, input from the control socket.
#pragma once
#include <deque>
#include <functional>
#include <mutex>

#include "../device.h"

namespace vmm {

class Serial16550 : public Device {
 public:
  static constexpr uint16_t kBase = 0x3f8;
  static constexpr uint32_t kIrq = 4;
  static constexpr size_t kMaxInput = 4096;  // bytes queued from the host; more is dropped

  Serial16550(std::function<void(uint8_t)> out, std::function<void(bool)> irq) : out_(std::move(out)), irq_(std::move(irq)) {}
  const char* name() const override { return "serial"; }
  bool pioIn(uint16_t port, uint8_t* data, uint32_t size) override;
  bool pioOut(uint16_t port, const uint8_t* data, uint32_t size) override;
  void save(StateWriter& w) const override;
  bool restore(StateReader& r) override;
  void reset() override;
  // Host → guest bytes; returns how many were queued.
  size_t input(const uint8_t* p, size_t n);

 private:
  void updateIrq();
  std::function<void(uint8_t)> out_;
  std::function<void(bool)> irq_;
  mutable std::mutex mu_;
  std::deque<uint8_t> rx_;
  uint8_t ier_ = 0, lcr_ = 0, mcr_ = 0, scr_ = 0, dll_ = 1, dlm_ = 0, fcr_ = 0;
  bool thrEmptyIrq_ = false;
  bool irqLevel_ = false;
};

}  // namespace vmm
