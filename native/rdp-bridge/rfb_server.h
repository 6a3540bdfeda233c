// The RFB (RFC 6143) server side of the RDP bridge: one client each (the bridge keeps one for the
// session's user and one per viewer), security None (the socket is the
// session's own, reached only through the node's gateway), Raw updates converted to the client's
// 32-bit pixel format, DesktopSize and ExtendedDesktopSize (the client asks for its window's size
// with SetDesktopSize), QEMU extended key events (raw scancodes, so the guest's keyboard layout
// decides), and the clipboard both ways: plain cut text (Latin-1) and the extended clipboard
// (UTF-8, zlib), which noVNC speaks. What the client sends is parsed with caps: parse() never
// reads past what it was given, never inflates beyond kMaxCutText, and refuses a message it does
// not know (fuzzed in rfb_server_fuzz.cpp).
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
  /** The client's clipboard changed: UTF-8, lines ending in \n. */
  std::function<void(std::string text)> cutText;
  /** The client asks for a desktop of this size (SetDesktopSize, its first screen). */
  std::function<void(uint16_t width, uint16_t height)> resize;
};

/** Clipboard text between RFB's and RDP's encodings; invalid input becomes U+FFFD, never a fault. */
namespace cliptext {
std::string utf8FromLatin1(const uint8_t* p, size_t n);
/** Latin-1 for plain cut text: what Latin-1 lacks becomes '?'. */
std::string latin1FromUtf8(const std::string& s);
/** UTF-16LE (up to its first NUL) to UTF-8. */
std::string utf8FromUtf16le(const uint8_t* p, size_t n);
/** UTF-8 to UTF-16LE with a NUL at the end, as CF_UNICODETEXT carries it. */
std::vector<uint8_t> utf16leFromUtf8(const std::string& s);
/** Any UTF-8 made valid (each bad byte one U+FFFD). */
std::string validUtf8(const std::string& s);
std::string toLf(const std::string& s);
std::string toCrLf(const std::string& s);
}  // namespace cliptext

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
  bool extendedDesktopSize = false;
  bool qemuKeys = false;
  /** The client speaks the extended clipboard (pseudo-encoding 0xC0A1E5CE). */
  bool extendedClipboard = false;
  // Extended clipboard actions the server owes the client.
  bool clipRequestOwed = false;  // the client has new text: ask for it
  bool clipProvideOwed = false;  // the client asked for the server's text
  bool clipNotifyOwed = false;   // the client peeked
  bool pixelFormatOk = true;
  uint8_t redShift = 16, greenShift = 8, blueShift = 0;
  bool bigEndian = false;
  std::string error;

 private:
  uint8_t buttons_ = 0;
  void pointer(uint8_t mask, uint16_t x, uint16_t y, const RfbInput& input);
  bool extendedCutText(const uint8_t* body, size_t n, const RfbInput& input);
};

class RfbServer {
 public:
  explicit RfbServer(std::string name) : name_(std::move(name)) {}
  ~RfbServer();
  RfbServer(const RfbServer&) = delete;
  RfbServer& operator=(const RfbServer&) = delete;
  /** The framebuffer (BGRX, `stride` bytes a row) changed size or place. */
  void resize(uint32_t w, uint32_t h, uint32_t stride, const uint8_t* fb);
  void damage(Rect r);
  /** The handshake with the client on `fd` (blocking, 10 s at most); false when it failed. */
  bool start(int fd);
  /** Reads what the client sent without blocking and acts on it; false when it left or erred. */
  bool readClient(const RfbInput& input);
  /** Sends an update when one is asked for and there is something to send; false on a write error. */
  bool flush();
  /** The guest's clipboard changed (UTF-8, \n lines); the client is told at the next flush(). */
  void setClipboard(std::string text);
  /** The client's last SetDesktopSize cannot be done (RFB status: 1 prohibited, 3 invalid layout). */
  void refuseResize(uint16_t status);
  /** The client asked for a size and the desktop is being changed: the next size change answers it. */
  void resizeUnderway() { resizeAnswerOwed_ = true; }
  uint32_t width() const { return w_; }
  uint32_t height() const { return h_; }

 private:
  std::string name_;
  int fd_ = -1;
  uint32_t w_ = 0, h_ = 0, stride_ = 0;
  const uint8_t* fb_ = nullptr;
  bool sizeChanged_ = false;
  bool qemuKeysAnnounced_ = false;
  bool extSizeAnnounced_ = false;
  bool resizeAnswerOwed_ = false;  // a size change now answers the client's request (reason 1)
  uint16_t resizeRefusal_ = 0;     // non-zero: answer the request with this status, size unchanged
  bool clipCapsSent_ = false;
  std::string clip_;               // the guest's clipboard, UTF-8
  bool clipChanged_ = false;
  bool writeControl();
  Rect dirty_{};
  bool haveDirty_ = false;
  RfbClientParser parser_;
  std::vector<uint8_t> in_;
  std::vector<uint8_t> out_;
  bool writeAll(const uint8_t* p, size_t n);
};

}  // namespace vdi
