// The device interface and registry. Each device lives in devices/<name>/, implements these
// ops, and registers a factory at load time: there is no central switch to edit.
#pragma once
#include <cstdint>
#include <cstring>
#include <functional>
#include <memory>
#include <string>
#include <vector>

namespace vmm {

class KvmVm;
class GuestMemory;

// Bounded little byte writer/reader for device state in snapshots.
class StateWriter {
 public:
  template <typename T> void put(const T& v) {
    const auto* p = reinterpret_cast<const uint8_t*>(&v);
    buf.insert(buf.end(), p, p + sizeof(T));
  }
  void bytes(const void* p, uint32_t n) { put(n); buf.insert(buf.end(), (const uint8_t*)p, (const uint8_t*)p + n); }
  std::vector<uint8_t> buf;
};

class StateReader {
 public:
  StateReader(const uint8_t* p, size_t n) : p_(p), n_(n) {}
  template <typename T> bool get(T& v) {
    if (n_ - off_ < sizeof(T)) return false;
    std::memcpy(&v, p_ + off_, sizeof(T));
    off_ += sizeof(T);
    return true;
  }
  // Reads a length-prefixed blob no longer than `max`.
  bool bytes(std::vector<uint8_t>& out, uint32_t max) {
    uint32_t n;
    if (!get(n) || n > max || n_ - off_ < n) return false;
    out.assign(p_ + off_, p_ + off_ + n);
    off_ += n;
    return true;
  }
  bool done() const { return off_ == n_; }
 private:
  const uint8_t* p_;
  size_t n_;
  size_t off_ = 0;
};

// What a device may use of the machine.
struct DeviceHost {
  KvmVm* vm = nullptr;
  GuestMemory* mem = nullptr;
  std::function<void(uint32_t irq, bool level)> irq;
  std::function<void(int status, const std::string& reason)> requestExit;
  std::function<void(uint8_t)> consoleOut;  // the serial console's output (set by the serial device)
  std::string serialLogPath;
  std::string fbSlotName;
};

class Device {
 public:
  virtual ~Device() = default;
  virtual const char* name() const = 0;
  // Port I/O and MMIO. Return false when the address is not this device's.
  virtual bool pioIn(uint16_t, uint8_t*, uint32_t) { return false; }
  virtual bool pioOut(uint16_t, const uint8_t*, uint32_t) { return false; }
  virtual bool mmioRead(uint64_t, uint8_t*, uint32_t) { return false; }
  virtual bool mmioWrite(uint64_t, const uint8_t*, uint32_t) { return false; }
  virtual void save(StateWriter& w) const = 0;
  virtual bool restore(StateReader& r) = 0;  // false: malformed state, device unchanged or reset
  virtual void reset() = 0;
};

using DeviceFactory = std::function<std::unique_ptr<Device>(DeviceHost&)>;

struct DeviceRegistration {
  DeviceRegistration(const char* name, DeviceFactory f);
};
std::vector<std::pair<std::string, DeviceFactory>>& deviceRegistry();

#define VMM_REGISTER_DEVICE(name, factory) static ::vmm::DeviceRegistration vmm_reg_##name(#name, factory)

}  // namespace vmm
