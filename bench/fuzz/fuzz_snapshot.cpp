// libFuzzer target: the snapshot state parser and the device state readers, on arbitrary bytes.
#include <cstdint>
#include <vector>

#include "../../native/vmm/devices/i8042/i8042.h"
#include "../../native/vmm/devices/serial/serial.h"
#include "../../native/vmm/devices/vbe/vbe.h"
#include "../../native/vmm/snapshot/snapshot.h"

using namespace vmm;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::vector<uint8_t> f(data, data + size);
  SnapshotInfo info;
  parseSnapshotState(f, info);
  Serial16550 serial([](uint8_t) {}, [](bool) {});
  I8042 kbd([](uint32_t, bool) {}, [] {});
  BochsVbe vbe(16 << 20);
  StateReader a(data, size), b(data, size), c(data, size);
  serial.restore(a);
  kbd.restore(b);
  vbe.restore(c);
  return 0;
}
