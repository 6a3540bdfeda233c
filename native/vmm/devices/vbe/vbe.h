// Bochs VBE display interface (index port 0x1CE, data port 0x1CF) over a linear framebuffer
// at kFbAddr. Only 32 bpp modes are displayed; sizes are capped to what the slot holds.
#pragma once
#include <atomic>
#include <mutex>

#include "../device.h"

namespace vmm {

struct DisplayMode {
  bool enabled = false;
  uint32_t width = 0, height = 0, stride = 0;  // stride in bytes
};

class BochsVbe : public Device {
 public:
  static constexpr uint16_t kIndexPort = 0x1ce, kDataPort = 0x1cf;
  static constexpr uint16_t kMaxWidth = 1920, kMaxHeight = 1080;
  enum : uint16_t { ID = 0, XRES, YRES, BPP, ENABLE, BANK, VIRT_WIDTH, VIRT_HEIGHT, X_OFFSET, Y_OFFSET, VIDEO_MEMORY_64K, NUM_REGS };
  static constexpr uint16_t ENABLED = 1, GETCAPS = 2, LFB = 0x40, NOCLEARMEM = 0x80;

  explicit BochsVbe(uint64_t fbSize) : fbSize_(fbSize) { reset(); }
  const char* name() const override { return "vbe"; }
  bool pioIn(uint16_t port, uint8_t* data, uint32_t size) override;
  bool pioOut(uint16_t port, const uint8_t* data, uint32_t size) override;
  void save(StateWriter& w) const override;
  bool restore(StateReader& r) override;
  void reset() override;
  DisplayMode mode() const;
  uint32_t generation() const { return gen_.load(); }  // bumps on every mode change

 private:
  uint64_t fbSize_;
  mutable std::mutex mu_;
  uint16_t index_ = 0;
  uint16_t regs_[NUM_REGS] = {};
  std::atomic<uint32_t> gen_{0};
};

}  // namespace vmm
