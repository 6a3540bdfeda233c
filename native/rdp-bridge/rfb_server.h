// The RFB (RFC 6143) server side of the RDP bridge: one client, security None (the socket is the
// session's own, reached only through the node's gateway), Raw updates converted to the client's
// 32-bit pixel format, DesktopSize, and QEMU extended key events (raw scancodes, so the guest's
// keyboard layout decides). What the client sends is parsed with caps: parse() never reads past
// what it was given, and refuses a message it does not know (fuzzed in rfb_server_fuzz.cpp).
#pragma once
#include <cstddef>
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

namespace vdi {

struct Rect { uint32_t x = 0, y = 0, w = 0, h = 0; };

struct RfbInput {
  /** A key by its XT scancode (0x80 set for extended keys, QEMU's numbering). */
  std::function<void(bool down, uint32_t scancode)> key;
  /** A pointer event in RDP's terms (PTR_FLAGS_*). */
  std::function<void(uint16_t flags, uint16_t x, uint16_t y)> pointer;
};

/** RDP pointer flags (MS-RDPBCGR 2.2.8.1.1.3.1.1.3), named here so the parser needs no FreeRDP. */
enum : uint16_t {
  kPtrWheelNegative = 0x0100, kPtrWheel = 0x0200, kPtrMove = 0x0800,
  kPtrButton1 = 0x1000, kPtrButton2 = 0x2000, kPtrButton3 = 0x4000, kPtrDown = 0x8000,
};

/** The client's messages, from a byte buffer (a parser of its own, for the fuzz target). */
class RfbClientParser {
 public:
  /** Caps on what a client may send. */
  static constexpr uint32_t kMaxEncodings = 256;
  static constexpr uint32_t kMaxCutText = 1 << 20;

  /** Parses whole messages at the front of `buf`; returns bytes used, or -1 on a protocol error. */
  long parse(const uint8_t* buf, size_t len, const RfbInput& input);

  // What the client asked for so far.
  bool updateWanted = false;
  bool fullUpdateWanted = true;
  bool desktopSize = false;
  bool qemuKeys = false;
  bool pixelFormatOk = true;
  uint8_t redShift = 16, greenShift = 8, blueShift = 0;
  bool bigEndian = false;
  std::string error;

 private:
  uint8_t buttons_ = 0;
  void pointer(uint8_t mask, uint16_t x, uint16_t y, const RfbInput& input);
};

class RfbServer {
 public:
  explicit RfbServer(std::string name) : name_(std::move(name)) {}
  /** The framebuffer (BGRX, `stride` bytes a row) changed size or place. */
  void resize(uint32_t w, uint32_t h, uint32_t stride, const uint8_t* fb);
  void damage(Rect r);
  /** The handshake with the client on `fd` (blocking, 10 s at most); false when it failed. */
  bool start(int fd);
  /** Reads what the client sent without blocking and acts on it; false when it left or erred. */
  bool readClient(const RfbInput& input);
  /** Sends an update when one is asked for and there is something to send; false on a write error. */
  bool flush();

 private:
  std::string name_;
  int fd_ = -1;
  uint32_t w_ = 0, h_ = 0, stride_ = 0;
  const uint8_t* fb_ = nullptr;
  bool sizeChanged_ = false;
  bool qemuKeysAnnounced_ = false;
  Rect dirty_{};
  bool haveDirty_ = false;
  RfbClientParser parser_;
  std::vector<uint8_t> in_;
  std::vector<uint8_t> out_;
  bool writeAll(const uint8_t* p, size_t n);
};

}  // namespace vdi
