#include "i8042.h"
#include "../../../tests/test.h"

using namespace vmm;

static uint8_t rd(I8042& k, uint16_t port) { uint8_t v; k.pioIn(port, &v, 1); return v; }
static void wr(I8042& k, uint16_t port, uint8_t v) { k.pioOut(port, &v, 1); }

TEST(i8042_keyboard_bytes_raise_irq1) {
  std::vector<uint32_t> irqs;
  I8042 k([&](uint32_t irq, bool level) { if (level) irqs.push_back(irq); }, [] {});
  uint8_t sc[] = {0x1e, 0x9e};
  k.keyboardBytes(sc, 2);
  CHECK(irqs.size() == 1 && irqs[0] == 1);
  CHECK(rd(k, 0x64) & 1);
  CHECK(rd(k, 0x60) == 0x1e);
  CHECK(irqs.size() == 2);  // the next byte raises again
  CHECK(rd(k, 0x60) == 0x9e);
  CHECK(!(rd(k, 0x64) & 1));
}

TEST(i8042_mouse_enable_and_packets) {
  std::vector<uint32_t> irqs;
  I8042 k([&](uint32_t irq, bool level) { if (level) irqs.push_back(irq); }, [] {});
  k.mouseMotion(5, 5, 0);
  CHECK(irqs.empty());  // reporting is off until the guest enables it
  wr(k, 0x64, 0xd4);
  wr(k, 0x60, 0xf4);
  CHECK(rd(k, 0x64) & 0x20);
  CHECK(rd(k, 0x60) == 0xfa);
  CHECK(k.mouseReporting());
  k.mouseMotion(-3, 300, 1);  // splits: 255 then 45
  uint8_t p[6];
  for (auto& b : p) b = rd(k, 0x60);
  CHECK((p[0] & 0x10) && (p[0] & 1) && (p[0] & 8));
  CHECK((int8_t)p[1] == -3 && p[2] == 255);
  CHECK(p[5] == 45);
}

TEST(i8042_queue_is_bounded_and_restores) {
  I8042 k([](uint32_t, bool) {}, [] {});
  std::vector<uint8_t> flood(1000, 0x1e);
  k.keyboardBytes(flood.data(), flood.size());
  StateWriter w;
  k.save(w);
  I8042 b([](uint32_t, bool) {}, [] {});
  StateReader r(w.buf.data(), w.buf.size());
  CHECK(b.restore(r));
  int n = 0;
  while (rd(b, 0x64) & 1) { rd(b, 0x60); n++; }
  CHECK(n == (int)I8042::kMaxQueue);
}

TEST(i8042_reset_command_requests_reset) {
  bool reset = false;
  I8042 k([](uint32_t, bool) {}, [&] { reset = true; });
  wr(k, 0x64, 0xfe);
  CHECK(reset);
}
