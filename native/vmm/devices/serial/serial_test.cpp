#include "serial.h"
#include "../../../tests/test.h"

using namespace vmm;

TEST(serial_output_input_and_irq) {
  std::string out;
  std::vector<bool> irqs;
  Serial16550 s([&](uint8_t c) { out.push_back((char)c); }, [&](bool l) { irqs.push_back(l); });
  uint8_t v = 'A';
  s.pioOut(Serial16550::kBase, &v, 1);
  CHECK(out == "A");
  v = 1;  // IER: receive interrupts
  s.pioOut(Serial16550::kBase + 1, &v, 1);
  s.input(reinterpret_cast<const uint8_t*>("hi"), 2);
  CHECK(!irqs.empty() && irqs.back());
  uint8_t lsr;
  s.pioIn(Serial16550::kBase + 5, &lsr, 1);
  CHECK(lsr & 1);
  uint8_t c1, c2;
  s.pioIn(Serial16550::kBase, &c1, 1);
  s.pioIn(Serial16550::kBase, &c2, 1);
  CHECK(c1 == 'h' && c2 == 'i');
  CHECK(!irqs.back());
}

TEST(serial_input_is_capped) {
  Serial16550 s([](uint8_t) {}, [](bool) {});
  std::vector<uint8_t> big(Serial16550::kMaxInput + 100, 'x');
  CHECK(s.input(big.data(), big.size()) == Serial16550::kMaxInput);
  CHECK(s.input(big.data(), 1) == 0);
}

TEST(serial_save_restore_roundtrip_and_garbage) {
  Serial16550 a([](uint8_t) {}, [](bool) {});
  uint8_t lcr = 0x03;
  a.pioOut(Serial16550::kBase + 3, &lcr, 1);
  a.input(reinterpret_cast<const uint8_t*>("xyz"), 3);
  StateWriter w;
  a.save(w);
  Serial16550 b([](uint8_t) {}, [](bool) {});
  StateReader r(w.buf.data(), w.buf.size());
  CHECK(b.restore(r) && r.done());
  uint8_t got;
  b.pioIn(Serial16550::kBase + 3, &got, 1);
  CHECK(got == 0x03);
  b.pioIn(Serial16550::kBase, &got, 1);
  CHECK(got == 'x');
  std::vector<uint8_t> truncated(w.buf.begin(), w.buf.begin() + 5);
  StateReader bad(truncated.data(), truncated.size());
  CHECK(!b.restore(bad));
}
