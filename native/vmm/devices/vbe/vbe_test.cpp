#include "vbe.h"
#include "../../../tests/test.h"

using namespace vmm;

static void set(BochsVbe& v, uint16_t i, uint16_t x) { uint8_t b[2] = {(uint8_t)i, (uint8_t)(i >> 8)}; v.pioOut(0x1ce, b, 2); b[0] = (uint8_t)x; b[1] = (uint8_t)(x >> 8); v.pioOut(0x1cf, b, 2); }
static uint16_t get(BochsVbe& v, uint16_t i) { uint8_t b[2] = {(uint8_t)i, (uint8_t)(i >> 8)}; v.pioOut(0x1ce, b, 2); v.pioIn(0x1cf, b, 2); return (uint16_t)(b[0] | b[1] << 8); }

TEST(vbe_modes_are_validated) {
  BochsVbe v(16 << 20);
  CHECK(get(v, BochsVbe::ID) == 0xb0c5);
  set(v, BochsVbe::XRES, 1024); set(v, BochsVbe::YRES, 768); set(v, BochsVbe::BPP, 32); set(v, BochsVbe::ENABLE, 1);
  auto m = v.mode();
  CHECK(m.enabled && m.width == 1024 && m.height == 768 && m.stride == 4096);
  set(v, BochsVbe::XRES, 60000);  // hostile size: not displayed
  CHECK(!v.mode().enabled);
  set(v, BochsVbe::XRES, 1024); set(v, BochsVbe::BPP, 8);
  CHECK(!v.mode().enabled);
  set(v, BochsVbe::ID, 0);  // read-only
  CHECK(get(v, BochsVbe::ID) == 0xb0c5);
}

TEST(vbe_save_restore) {
  BochsVbe a(16 << 20);
  set(a, BochsVbe::XRES, 800); set(a, BochsVbe::YRES, 600); set(a, BochsVbe::BPP, 32); set(a, BochsVbe::ENABLE, 1);
  StateWriter w;
  a.save(w);
  BochsVbe b(16 << 20);
  StateReader r(w.buf.data(), w.buf.size());
  CHECK(b.restore(r) && b.mode().width == 800);
  StateReader empty(nullptr, 0);
  CHECK(!b.restore(empty));
}
