#include "vbe.h"

#include "../../machine.h"

namespace vmm {

void BochsVbe::reset() {
  std::lock_guard<std::mutex> g(mu_);
  index_ = 0;
  for (auto& r : regs_) r = 0;
  regs_[ID] = 0xb0c5;
  regs_[VIDEO_MEMORY_64K] = (uint16_t)(fbSize_ >> 16);
  gen_++;
}

bool BochsVbe::pioIn(uint16_t port, uint8_t* data, uint32_t size) {
  if (port != kIndexPort && port != kDataPort) return false;
  std::lock_guard<std::mutex> g(mu_);
  uint16_t v = 0xffff;
  if (port == kIndexPort) v = index_;
  else if (index_ < NUM_REGS) {
    v = regs_[index_];
    if ((regs_[ENABLE] & GETCAPS) && index_ == XRES) v = kMaxWidth;
    if ((regs_[ENABLE] & GETCAPS) && index_ == YRES) v = kMaxHeight;
    if ((regs_[ENABLE] & GETCAPS) && index_ == BPP) v = 32;
  }
  data[0] = (uint8_t)v;
  if (size > 1) data[1] = (uint8_t)(v >> 8);
  for (uint32_t i = 2; i < size; i++) data[i] = 0;
  return true;
}

bool BochsVbe::pioOut(uint16_t port, const uint8_t* data, uint32_t size) {
  if (port != kIndexPort && port != kDataPort) return false;
  uint16_t v = (uint16_t)(data[0] | (size > 1 ? data[1] << 8 : 0));
  std::lock_guard<std::mutex> g(mu_);
  if (port == kIndexPort) { index_ = v; return true; }
  if (index_ >= NUM_REGS || index_ == ID || index_ == VIDEO_MEMORY_64K) return true;  // read-only or unknown
  regs_[index_] = v;
  if (index_ == XRES || index_ == YRES || index_ == BPP || index_ == ENABLE || index_ == VIRT_WIDTH) gen_++;
  return true;
}

DisplayMode BochsVbe::mode() const {
  std::lock_guard<std::mutex> g(mu_);
  DisplayMode m;
  uint32_t w = regs_[XRES], h = regs_[YRES];
  uint32_t vw = regs_[VIRT_WIDTH] > w ? regs_[VIRT_WIDTH] : w;
  // The guest controls every value: display only what fits and is supported.
  if (!(regs_[ENABLE] & ENABLED) || regs_[BPP] != 32 || w == 0 || h == 0 || w > kMaxWidth || h > kMaxHeight || vw > 4096) return m;
  if ((uint64_t)vw * 4 * h > fbSize_) return m;
  m.enabled = true;
  m.width = w;
  m.height = h;
  m.stride = vw * 4;
  return m;
}

void BochsVbe::save(StateWriter& w) const {
  std::lock_guard<std::mutex> g(mu_);
  w.put(index_);
  for (auto r : regs_) w.put(r);
}

bool BochsVbe::restore(StateReader& r) {
  uint16_t idx, regs[NUM_REGS];
  if (!r.get(idx)) return false;
  for (auto& x : regs) if (!r.get(x)) return false;
  std::lock_guard<std::mutex> g(mu_);
  index_ = idx;
  for (int i = 0; i < NUM_REGS; i++) regs_[i] = regs[i];
  regs_[ID] = 0xb0c5;
  regs_[VIDEO_MEMORY_64K] = (uint16_t)(fbSize_ >> 16);
  gen_++;
  return true;
}

VMM_REGISTER_DEVICE(vbe, [](DeviceHost&) -> std::unique_ptr<Device> { return std::make_unique<BochsVbe>(kFbSize); });

}  // namespace vmm
