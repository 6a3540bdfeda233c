// Fuzz target for what the bridge parses of its RFB client (RfbClientParser::parse): libFuzzer's
// entry point, and a main (no libFuzzer here: g++) that feeds it seeded random messages, valid
// message heads with random bodies and split points. Checks: parse() never reads out of bounds
// (run under -fsanitize=address,undefined), never uses more than it got, and goes on from where
// it stopped; clipboard text it hands on is valid UTF-8 within the cap. Before fuzzing, main()
// checks the clipboard's conversions and the extended clipboard's parsing on known inputs.
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <random>
#include <string>
#include <vector>

#include <zlib.h>

#include "rfb_server.h"

namespace {
bool isValidUtf8(const std::string& s) { return vdi::cliptext::validUtf8(s) == s; }
}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  vdi::RfbClientParser p;
  vdi::RfbInput in{
    [](bool, uint32_t sc) { if (sc > 0xff) std::abort(); },
    [](uint16_t, uint16_t, uint16_t) {},
    [](std::string t) { if (t.size() > 4 * vdi::RfbClientParser::kMaxCutText || !isValidUtf8(t)) std::abort(); },
    [](uint16_t, uint16_t) {},
  };
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
namespace {
int failed = 0;
void check(bool ok, const char* what) {
  if (!ok) { std::fprintf(stderr, "rfb_server_fuzz: FAIL %s\n", what); failed++; }
}

// ClientCutText with a negative length: flags, then (provide) a zlib stream of size + text.
std::vector<uint8_t> extendedCut(uint32_t flags, const std::vector<uint8_t>& body) {
  std::vector<uint8_t> m = {6, 0, 0, 0};
  uint32_t len = (uint32_t)(-(int32_t)(4 + body.size()));
  for (int i = 3; i >= 0; i--) m.push_back((uint8_t)(len >> (8 * i)));
  for (int i = 3; i >= 0; i--) m.push_back((uint8_t)(flags >> (8 * i)));
  m.insert(m.end(), body.begin(), body.end());
  return m;
}
std::vector<uint8_t> deflated(const std::vector<uint8_t>& raw) {
  uLongf n = compressBound((uLong)raw.size());
  std::vector<uint8_t> z(n);
  compress2(z.data(), &n, raw.data(), (uLong)raw.size(), 6);
  z.resize(n);
  return z;
}

void knownInputs() {
  using namespace vdi::cliptext;
  const std::string text = "Gr\xc3\xbc\xc3\x9f" "e \xe2\x82\xac \xf0\x9f\x98\x80\nzwei";  // "Grüße € 😀\nzwei"
  std::vector<uint8_t> u16 = utf16leFromUtf8(text);
  check(u16.size() == 2 * (5 + 1 + 1 + 1 + 2 + 1 + 4) + 2 && u16[u16.size() - 1] == 0 && u16[u16.size() - 2] == 0, "UTF-16LE length, surrogate pair and NUL");
  check(utf8FromUtf16le(u16.data(), u16.size()) == text, "UTF-16LE round trip");
  check(latin1FromUtf8(text) == "Gr\xfc\xdf" "e ? ?\nzwei", "Latin-1 keeps umlauts, marks what it lacks");
  const uint8_t l1[] = {'a', 0xe4, 'b'};
  check(utf8FromLatin1(l1, 3) == "a\xc3\xa4" "b", "Latin-1 to UTF-8");
  check(validUtf8("a\xff\xc3") == "a\xef\xbf\xbd\xef\xbf\xbd", "bad UTF-8 becomes U+FFFD per byte");
  check(toCrLf("a\nb\r\nc\r") == "a\r\nb\r\nc\r\n" && toLf("a\r\nb\rc") == "a\nb\nc", "line ends");

  std::string got;
  int resized = 0;
  vdi::RfbInput in{nullptr, nullptr, [&](std::string t) { got = std::move(t); }, [&](uint16_t w, uint16_t h) { resized = w * 10000 + h; }};
  vdi::RfbClientParser p;
  std::string crlf = "eins\r\nzwei \xe2\x82\xac";
  std::vector<uint8_t> raw = {0, 0, 0, (uint8_t)(crlf.size() + 1)};
  raw.insert(raw.end(), crlf.begin(), crlf.end());
  raw.push_back(0);
  std::vector<uint8_t> m = extendedCut((1u << 28) | 1, deflated(raw));
  check(p.parse(m.data(), m.size(), in) == (long)m.size() && got == "eins\nzwei \xe2\x82\xac", "extended clipboard provide: UTF-8, CRLF to LF, NUL gone");
  std::vector<uint8_t> bomb((size_t)vdi::RfbClientParser::kMaxCutText + 4096, 'x');
  m = extendedCut((1u << 28) | 1, deflated(bomb));
  check(p.parse(m.data(), m.size(), in) == -1, "a provide inflating beyond the cap is refused");
  vdi::RfbClientParser q;
  m = extendedCut((1u << 27) | 1, {});
  check(q.parse(m.data(), m.size(), in) == (long)m.size() && q.clipRequestOwed, "a notify makes the server ask for the text");
  const uint8_t legacy[] = {6, 0, 0, 0, 0, 0, 0, 3, 'x', 0xfc, '\r'};
  check(q.parse(legacy, sizeof legacy, in) == (long)sizeof legacy && got == "x\xc3\xbc\n", "plain cut text is Latin-1");
  const uint8_t size[] = {251, 0, 0x05, 0x00, 0x03, 0x00, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x05, 0x00, 0x03, 0x00, 0, 0, 0, 0};
  check(q.parse(size, sizeof size, in) == (long)sizeof size && resized == 1280 * 10000 + 768, "SetDesktopSize");
  const uint8_t noScreens[] = {251, 0, 0x05, 0x00, 0x03, 0x00, 0, 0};
  check(q.parse(noScreens, sizeof noScreens, in) == -1, "SetDesktopSize without a screen is refused");
}
}  // namespace

int main(int argc, char** argv) {
  knownInputs();
  if (failed) return 1;
  unsigned iterations = argc > 1 ? (unsigned)std::strtoul(argv[1], nullptr, 10) : 200000;
  std::mt19937 rng(1234);
  const uint8_t heads[] = {0, 2, 3, 4, 5, 6, 255, 251, 1, 7, 254};
  for (unsigned i = 0; i < iterations; i++) {
    std::vector<uint8_t> b(rng() % 96);
    for (auto& x : b) x = (uint8_t)rng();
    if (!b.empty()) b[0] = heads[rng() % sizeof heads];
    // Extended clipboard messages: a negative length and a (sometimes real) zlib body.
    if (b.size() >= 12 && b[0] == 6 && (rng() & 1)) {
      std::vector<uint8_t> body(b.begin() + 12, b.end());
      if (rng() & 1) body = deflated(body);
      uint32_t flags = (1u << (24 + rng() % 5)) | (rng() & 3);
      std::vector<uint8_t> m = extendedCut(flags, body);
      LLVMFuzzerTestOneInput(m.data(), m.size());
      continue;
    }
    LLVMFuzzerTestOneInput(b.data(), b.size());
  }
  std::printf("rfb_server_fuzz: %u inputs, no fault\n", iterations);
  return 0;
}
#endif
