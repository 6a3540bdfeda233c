#include "debug_exit.h"

#include <unistd.h>

namespace vmm {

bool DebugExit::pioOut(uint16_t port, const uint8_t* data, uint32_t size) {
  if (port != kPort || size == 0) return false;
  uint32_t v = data[0];
  exit_((int)((v << 1) | 1), v == 0 ? "guest reported pass" : "guest reported failure " + std::to_string(v));
  return true;
}

bool DebugExit::pioIn(uint16_t port, uint8_t* data, uint32_t size) {
  if (port != kPort) return false;
  for (uint32_t i = 0; i < size; i++) data[i] = 0;
  return true;
}

bool DebugExit::mmioWrite(uint64_t addr, const uint8_t* data, uint32_t size) {
  if (size == 0) return false;
  if (addr == kMmioExit) return pioOut(kPort, data, size);
  if (addr == kMmioPutc) { putc_(data[0]); return true; }
  if (addr == kMmioIdle) { ::usleep(kIdleMicros); return true; }
  return false;
}

bool DebugExit::mmioRead(uint64_t addr, uint8_t* data, uint32_t size) {
  if (addr != kMmioExit && addr != kMmioPutc && addr != kMmioIdle) return false;
  for (uint32_t i = 0; i < size; i++) data[i] = 0;
  return true;
}

VMM_REGISTER_DEVICE(debug_exit, [](DeviceHost& h) -> std::unique_ptr<Device> {
  auto* host = &h;
  return std::make_unique<DebugExit>(h.requestExit, [host](uint8_t c) { if (host->consoleOut) host->consoleOut(c); });
});

}  // namespace vmm
