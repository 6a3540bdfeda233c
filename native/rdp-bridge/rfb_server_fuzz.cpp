// Fuzz target for what the bridge parses of its RFB client (RfbClientParser::parse): libFuzzer's
// entry point, and a main (no libFuzzer here: g++) that feeds it seeded random messages, valid
// message heads with random bodies and split points. Checks: parse() never reads out of bounds
// (run under -fsanitize=address,undefined), never uses more than it got, and goes on from where
// it stopped.
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <random>
#include <vector>

#include "rfb_server.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  vdi::RfbClientParser p;
  vdi::RfbInput in{[](bool, uint32_t sc) { if (sc > 0xff) std::abort(); }, [](uint16_t, uint16_t, uint16_t) {}};
  std::vector<uint8_t> buf(data, data + size);  // exactly `size` bytes: ASan sees any over-read
  size_t at = 0;
  while (at < buf.size()) {
    size_t chunk = 1 + (buf[at] % 64);
    size_t end = std::min(buf.size(), at + chunk);
    std::vector<uint8_t> part(buf.begin() + (long)at, buf.begin() + (long)end);
    long used = p.parse(part.data(), part.size(), in);
    if (used < 0) return 0;
    if ((size_t)used > part.size()) std::abort();
    at += used > 0 ? (size_t)used : part.size();  // an incomplete message: skip on (fuzzing only)
  }
  return 0;
}

#ifndef VDI_LIBFUZZER
int main(int argc, char** argv) {
  unsigned iterations = argc > 1 ? (unsigned)std::strtoul(argv[1], nullptr, 10) : 200000;
  std::mt19937 rng(1234);
  const uint8_t heads[] = {0, 2, 3, 4, 5, 6, 255, 1, 7, 254};
  for (unsigned i = 0; i < iterations; i++) {
    std::vector<uint8_t> b(rng() % 96);
    for (auto& x : b) x = (uint8_t)rng();
    if (!b.empty()) b[0] = heads[rng() % sizeof heads];
    LLVMFuzzerTestOneInput(b.data(), b.size());
  }
  std::printf("rfb_server_fuzz: %u inputs, no fault\n", iterations);
  return 0;
}
#endif
