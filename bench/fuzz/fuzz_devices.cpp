// libFuzzer target: the port-I/O devices driven by a hostile guest and a hostile host side.
// Input = a sequence of operations: [op][port lo][port hi][value][size]...
#include <cstdint>
#include <cstring>
#include <memory>
#include <vector>

#include "../../native/vmm/devices/debug_exit/debug_exit.h"
#include "../../native/vmm/devices/i8042/i8042.h"
#include "../../native/vmm/devices/serial/serial.h"
#include "../../native/vmm/devices/vbe/vbe.h"

using namespace vmm;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  Serial16550 serial([](uint8_t) {}, [](bool) {});
  I8042 kbd([](uint32_t, bool) {}, [] {});
  BochsVbe vbe(16 << 20);
  DebugExit dbg([](int, const std::string&) {}, [](uint8_t) {});
  Device* devs[] = {&serial, &kbd, &vbe, &dbg};
  for (size_t i = 0; i + 5 <= size; i += 5) {
    uint8_t op = data[i];
    uint16_t port = (uint16_t)(data[i + 1] | data[i + 2] << 8);
    uint8_t buf[4] = {data[i + 3], data[i + 4], data[i + 3], data[i + 4]};
    uint32_t len = 1u << (data[i + 4] % 3);
    Device* d = devs[op % 4];
    switch ((op >> 2) % 6) {
      case 0: d->pioOut(port, buf, len); break;
      case 1: d->pioIn(port, buf, len); break;
      case 2: kbd.keyboardBytes(buf, data[i + 3] % 4); break;
      case 3: kbd.mouseMotion((int8_t)data[i + 3] * 3, (int8_t)data[i + 4] * 3, op & 7); break;
      case 4: serial.input(buf, data[i + 3] % 4); break;
      case 5: {  // save, then restore the state into a fresh device, and once more from a damaged copy
        StateWriter w;
        d->save(w);
        StateReader r(w.buf.data(), w.buf.size());
        if (!d->restore(r)) __builtin_trap();  // its own state must always load
        if (!w.buf.empty()) w.buf[data[i + 3] % w.buf.size()] ^= data[i + 4];
        w.buf.resize(w.buf.size() - std::min<size_t>(w.buf.size(), data[i + 1] % 3));
        StateReader bad(w.buf.data(), w.buf.size());
        d->restore(bad);
        break;
      }
    }
    DisplayMode m = vbe.mode();
    if (m.enabled && (uint64_t)m.stride * m.height > (16u << 20)) __builtin_trap();  // never points past the slot
  }
  return 0;
}
