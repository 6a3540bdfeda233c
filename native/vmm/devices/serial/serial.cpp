#include "serial.h"

#include <fcntl.h>
#include <unistd.h>

#include "../../kvm/kvm.h"

namespace vmm {

namespace {
constexpr uint8_t IER_RDI = 1, IER_THRI = 2;
constexpr uint8_t LCR_DLAB = 0x80;
constexpr uint8_t LSR_DR = 1, LSR_THRE = 0x20, LSR_TEMT = 0x40;
constexpr uint8_t IIR_NONE = 1, IIR_THRI = 2, IIR_RDI = 4, IIR_FIFO = 0xc0;
}  // namespace

bool Serial16550::pioIn(uint16_t port, uint8_t* data, uint32_t size) {
  if (port < kBase || port >= kBase + 8) return false;
  std::lock_guard<std::mutex> g(mu_);
  uint8_t v = 0;
  switch (port - kBase) {
    case 0:
      if (lcr_ & LCR_DLAB) { v = dll_; break; }
      if (!rx_.empty()) { v = rx_.front(); rx_.pop_front(); }
      break;
    case 1: v = (lcr_ & LCR_DLAB) ? dlm_ : ier_; break;
    case 2:
      if ((ier_ & IER_RDI) && !rx_.empty()) v = IIR_RDI;
      else if ((ier_ & IER_THRI) && thrEmptyIrq_) { v = IIR_THRI; thrEmptyIrq_ = false; }
      else v = IIR_NONE;
      if (fcr_ & 1) v |= IIR_FIFO;
      break;
    case 3: v = lcr_; break;
    case 4: v = mcr_; break;
    case 5: v = LSR_THRE | LSR_TEMT | (rx_.empty() ? 0 : LSR_DR); break;
    case 6: v = 0xb0; break;  // CTS, DSR, DCD
    case 7: v = scr_; break;
  }
  for (uint32_t i = 0; i < size; i++) data[i] = i == 0 ? v : 0;
  updateIrq();
  return true;
}

bool Serial16550::pioOut(uint16_t port, const uint8_t* data, uint32_t size) {
  if (port < kBase || port >= kBase + 8 || size == 0) return false;
  uint8_t v = data[0];
  bool emit = false;
  {
    std::lock_guard<std::mutex> g(mu_);
    switch (port - kBase) {
      case 0:
        if (lcr_ & LCR_DLAB) dll_ = v;
        else { emit = true; thrEmptyIrq_ = true; }
        break;
      case 1:
        if (lcr_ & LCR_DLAB) dlm_ = v;
        else { ier_ = v & 0x0f; if (ier_ & IER_THRI) thrEmptyIrq_ = true; }
        break;
      case 2: fcr_ = v; if (v & 2) rx_.clear(); break;
      case 3: lcr_ = v; break;
      case 4: mcr_ = v; break;
      case 7: scr_ = v; break;
      default: break;  // LSR/MSR are read-only
    }
    updateIrq();
  }
  if (emit) out_(v);
  return true;
}

void Serial16550::updateIrq() {
  bool level = ((ier_ & IER_RDI) && !rx_.empty()) || ((ier_ & IER_THRI) && thrEmptyIrq_);
  if (level != irqLevel_) {
    irqLevel_ = level;
    irq_(level);
  }
}

size_t Serial16550::input(const uint8_t* p, size_t n) {
  std::lock_guard<std::mutex> g(mu_);
  size_t room = kMaxInput - std::min(kMaxInput, rx_.size());
  size_t k = std::min(room, n);
  rx_.insert(rx_.end(), p, p + k);
  updateIrq();
  return k;
}

void Serial16550::save(StateWriter& w) const {
  std::lock_guard<std::mutex> g(mu_);
  for (uint8_t b : {ier_, lcr_, mcr_, scr_, dll_, dlm_, fcr_, (uint8_t)thrEmptyIrq_}) w.put(b);
  std::vector<uint8_t> rx(rx_.begin(), rx_.end());
  w.bytes(rx.data(), (uint32_t)rx.size());
}

bool Serial16550::restore(StateReader& r) {
  uint8_t b[8];
  for (auto& x : b) if (!r.get(x)) return false;
  std::vector<uint8_t> rx;
  if (!r.bytes(rx, kMaxInput)) return false;
  std::lock_guard<std::mutex> g(mu_);
  ier_ = b[0] & 0x0f; lcr_ = b[1]; mcr_ = b[2]; scr_ = b[3]; dll_ = b[4]; dlm_ = b[5]; fcr_ = b[6]; thrEmptyIrq_ = b[7] != 0;
  rx_.assign(rx.begin(), rx.end());
  irqLevel_ = false;
  return true;
}

void Serial16550::reset() {
  std::lock_guard<std::mutex> g(mu_);
  rx_.clear();
  ier_ = lcr_ = mcr_ = scr_ = dlm_ = fcr_ = 0;
  dll_ = 1;
  thrEmptyIrq_ = false;
}

// The console log is appended to; the guest's bytes go there unchanged.
VMM_REGISTER_DEVICE(serial, [](DeviceHost& h) -> std::unique_ptr<Device> {
  int fd = h.serialLogPath.empty() ? -1 : ::open(h.serialLogPath.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
  auto irq = h.irq;
  auto out = [fd](uint8_t c) { if (fd >= 0) { ssize_t r = ::write(fd, &c, 1); (void)r; } };
  h.consoleOut = out;
  return std::make_unique<Serial16550>(
      out,
      [irq](bool level) { irq(Serial16550::kIrq, level); });
});

}  // namespace vmm
