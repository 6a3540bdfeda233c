#include "debug_exit.h"
#include "../../../tests/test.h"

using namespace vmm;

TEST(debug_exit_port_and_mmio) {
  int status = -1;
  std::string reason, out;
  DebugExit d([&](int s, const std::string& r) { status = s; reason = r; }, [&](uint8_t c) { out.push_back((char)c); });
  uint8_t v = 0;
  CHECK(d.pioOut(DebugExit::kPort, &v, 1) && status == 1 && reason == "guest reported pass");
  v = 3;
  CHECK(d.mmioWrite(DebugExit::kMmioExit, &v, 1) && status == 7);
  v = 'x';
  CHECK(d.mmioWrite(DebugExit::kMmioPutc, &v, 1) && out == "x");
  CHECK(!d.pioOut(0xf5, &v, 1));
  CHECK(!d.mmioWrite(DebugExit::kMmioExit + 0x100, &v, 1));
  uint8_t r[4] = {1, 1, 1, 1};
  CHECK(d.mmioRead(DebugExit::kMmioPutc, r, 4) && r[0] == 0 && r[3] == 0);
  StateWriter w;
  d.save(w);
  StateReader rd(w.buf.data(), w.buf.size());
  CHECK(d.restore(rd));
}
