#include "i8042.h"

namespace vmm {

namespace {
constexpr uint8_t ST_OBF = 1, ST_SYS = 4, ST_CMD = 8, ST_AUXOBF = 0x20;
constexpr uint8_t CCB_KBD_IRQ = 1, CCB_AUX_IRQ = 2, CCB_KBD_OFF = 0x10, CCB_AUX_OFF = 0x20;
constexpr uint8_t ACK = 0xfa;
}  // namespace

void I8042::push(uint8_t v, bool aux) {
  if (out_.size() >= kMaxQueue) return;  // the guest is not reading: drop
  out_.push_back({v, aux});
}

void I8042::raise() {
  if (out_.empty()) return;
  const Byte& b = out_.front();
  if (b.aux ? (ccb_ & CCB_AUX_IRQ) : (ccb_ & CCB_KBD_IRQ)) {
    uint32_t irq = b.aux ? kAuxIrq : kKbdIrq;
    irq_(irq, true);   // edge for the PIC: a pulse per byte made available
    irq_(irq, false);
  }
}

bool I8042::pioIn(uint16_t port, uint8_t* data, uint32_t size) {
  if (port != kDataPort && port != kStatusPort) return false;
  std::lock_guard<std::mutex> g(mu_);
  uint8_t v;
  if (port == kStatusPort) {
    v = ST_SYS | (lastWasCommand_ ? ST_CMD : 0);
    if (!out_.empty()) v |= ST_OBF | (out_.front().aux ? ST_AUXOBF : 0);
  } else {
    v = out_.empty() ? 0 : out_.front().v;
    if (!out_.empty()) out_.pop_front();
    raise();
  }
  for (uint32_t i = 0; i < size; i++) data[i] = i == 0 ? v : 0;
  return true;
}

void I8042::kbdCommand(uint8_t v) {
  if (pendingKbd_) { pendingKbd_ = 0; push(ACK, false); return; }
  switch (v) {
    case 0xff: push(ACK, false); push(0xaa, false); break;            // reset + self-test passed
    case 0xf2: push(ACK, false); push(0xab, false); push(0x83, false); break;  // identify: MF2
    case 0xed: case 0xf0: case 0xf3: pendingKbd_ = v; push(ACK, false); break;
    default: push(ACK, false); break;
  }
}

void I8042::auxCommand(uint8_t v) {
  if (pendingAux_) { pendingAux_ = 0; push(ACK, true); return; }
  switch (v) {
    case 0xff: auxReporting_ = false; push(ACK, true); push(0xaa, true); push(0x00, true); break;
    case 0xf2: push(ACK, true); push(0x00, true); break;
    case 0xf4: auxReporting_ = true; push(ACK, true); break;
    case 0xf5: auxReporting_ = false; push(ACK, true); break;
    case 0xf3: case 0xe8: pendingAux_ = v; push(ACK, true); break;
    default: push(ACK, true); break;
  }
}

bool I8042::pioOut(uint16_t port, const uint8_t* data, uint32_t size) {
  if ((port != kDataPort && port != kStatusPort) || size == 0) return false;
  uint8_t v = data[0];
  bool reset = false;
  {
    std::lock_guard<std::mutex> g(mu_);
    bool wasEmpty = out_.empty();
    if (port == kStatusPort) {
      lastWasCommand_ = true;
      switch (v) {
        case 0x20: push(ccb_, false); break;
        case 0x60: case 0xd4: pendingCmd_ = v; break;
        case 0xa7: ccb_ |= CCB_AUX_OFF; break;
        case 0xa8: ccb_ &= (uint8_t)~CCB_AUX_OFF; break;
        case 0xa9: case 0xab: push(0x00, false); break;
        case 0xaa: push(0x55, false); break;
        case 0xad: ccb_ |= CCB_KBD_OFF; break;
        case 0xae: ccb_ &= (uint8_t)~CCB_KBD_OFF; break;
        case 0xfe: reset = true; break;  // pulse the CPU reset line
        default: break;
      }
    } else {
      lastWasCommand_ = false;
      if (pendingCmd_ == 0x60) ccb_ = v;
      else if (pendingCmd_ == 0xd4) auxCommand(v);
      else kbdCommand(v);
      pendingCmd_ = 0;
    }
    if (wasEmpty) raise();
  }
  if (reset) resetRequest_();
  return true;
}

void I8042::keyboardBytes(const uint8_t* p, size_t n) {
  std::lock_guard<std::mutex> g(mu_);
  if (ccb_ & CCB_KBD_OFF) return;
  bool wasEmpty = out_.empty();
  for (size_t i = 0; i < n; i++) push(p[i], false);
  if (wasEmpty) raise();
}

bool I8042::mouseReporting() const {
  std::lock_guard<std::mutex> g(mu_);
  return auxReporting_ && !(ccb_ & CCB_AUX_OFF);
}

void I8042::mouseMotion(int dx, int dy, uint8_t buttons) {
  std::lock_guard<std::mutex> g(mu_);
  if (!auxReporting_ || (ccb_ & CCB_AUX_OFF)) return;
  bool wasEmpty = out_.empty();
  do {  // PS/2 packets carry 9-bit signed deltas; split larger motion
    int sx = std::max(-255, std::min(255, dx)), sy = std::max(-255, std::min(255, dy));
    dx -= sx;
    dy -= sy;
    uint8_t b0 = 0x08 | (buttons & 7) | (sx < 0 ? 0x10 : 0) | (sy < 0 ? 0x20 : 0);
    if (out_.size() + 3 > kMaxQueue) break;
    push(b0, true);
    push((uint8_t)sx, true);
    push((uint8_t)sy, true);
  } while (dx != 0 || dy != 0);
  if (wasEmpty) raise();
}

void I8042::save(StateWriter& w) const {
  std::lock_guard<std::mutex> g(mu_);
  for (uint8_t b : {ccb_, pendingCmd_, pendingKbd_, pendingAux_, (uint8_t)auxReporting_, (uint8_t)lastWasCommand_}) w.put(b);
  std::vector<uint8_t> q;
  for (auto& b : out_) { q.push_back(b.v); q.push_back(b.aux); }
  w.bytes(q.data(), (uint32_t)q.size());
}

bool I8042::restore(StateReader& r) {
  uint8_t b[6];
  for (auto& x : b) if (!r.get(x)) return false;
  std::vector<uint8_t> q;
  if (!r.bytes(q, 2 * kMaxQueue) || q.size() % 2) return false;
  std::lock_guard<std::mutex> g(mu_);
  ccb_ = b[0]; pendingCmd_ = b[1]; pendingKbd_ = b[2]; pendingAux_ = b[3]; auxReporting_ = b[4]; lastWasCommand_ = b[5];
  out_.clear();
  for (size_t i = 0; i < q.size(); i += 2) out_.push_back({q[i], q[i + 1] != 0});
  return true;
}

void I8042::reset() {
  std::lock_guard<std::mutex> g(mu_);
  out_.clear();
  ccb_ = 0x47;
  pendingCmd_ = pendingKbd_ = pendingAux_ = 0;
  auxReporting_ = lastWasCommand_ = false;
}

VMM_REGISTER_DEVICE(i8042, [](DeviceHost& h) -> std::unique_ptr<Device> {
  auto exit = h.requestExit;
  return std::make_unique<I8042>(h.irq, [exit] { exit(0, "guest requested a reset"); });
});

}  // namespace vmm
