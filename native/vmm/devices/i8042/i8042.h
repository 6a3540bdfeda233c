// i8042 PS/2 controller with a keyboard (IRQ 1) and a mouse (IRQ 12). The host pushes
// scancodes (set 1, as after translation) and relative mouse motion.
#pragma once
#include <deque>
#include <functional>
#include <mutex>

#include "../device.h"

namespace vmm {

class I8042 : public Device {
 public:
  static constexpr uint16_t kDataPort = 0x60, kStatusPort = 0x64;
  static constexpr uint32_t kKbdIrq = 1, kAuxIrq = 12;
  static constexpr size_t kMaxQueue = 256;

  explicit I8042(std::function<void(uint32_t, bool)> irq, std::function<void()> resetRequest)
      : irq_(std::move(irq)), resetRequest_(std::move(resetRequest)) {}
  const char* name() const override { return "i8042"; }
  bool pioIn(uint16_t port, uint8_t* data, uint32_t size) override;
  bool pioOut(uint16_t port, const uint8_t* data, uint32_t size) override;
  void save(StateWriter& w) const override;
  bool restore(StateReader& r) override;
  void reset() override;

  void keyboardBytes(const uint8_t* p, size_t n);
  void mouseMotion(int dx, int dy, uint8_t buttons);  // buttons: bit0 left, bit1 right, bit2 middle
  bool mouseReporting() const;

 private:
  struct Byte { uint8_t v; bool aux; };
  void push(uint8_t v, bool aux);  // caller holds mu_
  void raise();                    // caller holds mu_
  void kbdCommand(uint8_t v);
  void auxCommand(uint8_t v);

  std::function<void(uint32_t, bool)> irq_;
  std::function<void()> resetRequest_;
  mutable std::mutex mu_;
  std::deque<Byte> out_;
  uint8_t ccb_ = 0x47;  // kbd IRQ, aux IRQ, system flag, translation
  uint8_t pendingCmd_ = 0;     // controller command waiting for a data byte (0x60, 0xD4)
  uint8_t pendingKbd_ = 0;     // keyboard command waiting for its argument (0xED, 0xF0, 0xF3)
  uint8_t pendingAux_ = 0;     // mouse command waiting for its argument (0xF3, 0xE8)
  bool auxReporting_ = false;
  bool lastWasCommand_ = false;
};

}  // namespace vmm
