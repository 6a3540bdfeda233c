#include "rfb_server.h"

#include <poll.h>
#include <unistd.h>
#include <zlib.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <string>

namespace vdi {
namespace {

uint16_t be16(const uint8_t* p) { return (uint16_t)(p[0] << 8 | p[1]); }
uint32_t be32(const uint8_t* p) { return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3]; }
void put16(std::vector<uint8_t>& o, uint16_t v) { o.push_back(v >> 8); o.push_back(v & 0xff); }
void put32(std::vector<uint8_t>& o, uint32_t v) { put16(o, v >> 16); put16(o, v & 0xffff); }

// X11 keysyms to XT scancodes (US layout), for clients without QEMU's extended key events.
uint32_t scancodeOfKeysym(uint32_t ks) {
  static const char* rows[] = {"1234567890-=", "qwertyuiop[]", "asdfghjkl;'`", "\\zxcvbnm,./"};
  static const uint32_t starts[] = {0x02, 0x10, 0x1e, 0x2b};
  static const char* shifted[] = {"!@#$%^&*()_+", "QWERTYUIOP{}", "ASDFGHJKL:\"~", "|ZXCVBNM<>?"};
  if (ks >= 0x20 && ks < 0x7f) {
    if (ks == ' ') return 0x39;
    for (int r = 0; r < 4; r++) {
      const char* a = std::strchr(rows[r], (int)ks);
      if (a) return starts[r] + (uint32_t)(a - rows[r]);
      const char* b = std::strchr(shifted[r], (int)ks);
      if (b) return starts[r] + (uint32_t)(b - shifted[r]);
    }
    return 0;
  }
  switch (ks) {
    case 0xff08: return 0x0e;  // BackSpace
    case 0xff09: return 0x0f;  // Tab
    case 0xff0d: return 0x1c;  // Return
    case 0xff1b: return 0x01;  // Escape
    case 0xffe1: return 0x2a;  // Shift_L
    case 0xffe2: return 0x36;  // Shift_R
    case 0xffe3: return 0x1d;  // Control_L
    case 0xffe4: return 0x9d;  // Control_R
    case 0xffe9: return 0x38;  // Alt_L
    case 0xffea: return 0xb8;  // Alt_R
    case 0xffeb: return 0xdb;  // Super_L
    case 0xff51: return 0xcb;  // Left
    case 0xff52: return 0xc8;  // Up
    case 0xff53: return 0xcd;  // Right
    case 0xff54: return 0xd0;  // Down
    case 0xff50: return 0xc7;  // Home
    case 0xff57: return 0xcf;  // End
    case 0xff55: return 0xc9;  // Page_Up
    case 0xff56: return 0xd1;  // Page_Down
    case 0xff63: return 0xd2;  // Insert
    case 0xffff: return 0xd3;  // Delete
    default:
      if (ks >= 0xffbe && ks <= 0xffc7) return 0x3b + (ks - 0xffbe);  // F1–F10
      if (ks == 0xffc8) return 0x57;
      if (ks == 0xffc9) return 0x58;
      return 0;
  }
}

// Extended clipboard (the rfbproto "ExtendedClipboard" pseudo-encoding, as noVNC speaks it).
constexpr int32_t kExtendedClipboard = (int32_t)0xC0A1E5CE;
constexpr uint32_t kClipText = 1, kClipCaps = 1u << 24, kClipRequest = 1u << 25, kClipPeek = 1u << 26,
                   kClipNotify = 1u << 27, kClipProvide = 1u << 28;

// Inflates one zlib stream, refusing output beyond `cap` bytes (a small message can claim much).
bool inflateCapped(const uint8_t* p, size_t n, size_t cap, std::vector<uint8_t>& out) {
  z_stream z{};
  if (inflateInit(&z) != Z_OK) return false;
  z.next_in = const_cast<uint8_t*>(p);
  z.avail_in = (uInt)n;
  out.clear();
  int rc = Z_OK;
  while (rc == Z_OK) {
    if (out.size() > cap) break;
    size_t at = out.size();
    out.resize(at + 16384);
    z.next_out = out.data() + at;
    z.avail_out = 16384;
    rc = inflate(&z, Z_NO_FLUSH);
    out.resize(at + (16384 - z.avail_out));
    if (rc == Z_BUF_ERROR && z.avail_in == 0) break;  // the stream ended without its trailer
  }
  inflateEnd(&z);
  return out.size() <= cap && (rc == Z_STREAM_END || rc == Z_BUF_ERROR || rc == Z_OK);
}

void putUtf8(std::string& o, uint32_t cp) {
  if (cp < 0x80) o.push_back((char)cp);
  else if (cp < 0x800) { o.push_back((char)(0xc0 | cp >> 6)); o.push_back((char)(0x80 | (cp & 0x3f))); }
  else if (cp < 0x10000) { o.push_back((char)(0xe0 | cp >> 12)); o.push_back((char)(0x80 | ((cp >> 6) & 0x3f))); o.push_back((char)(0x80 | (cp & 0x3f))); }
  else { o.push_back((char)(0xf0 | cp >> 18)); o.push_back((char)(0x80 | ((cp >> 12) & 0x3f))); o.push_back((char)(0x80 | ((cp >> 6) & 0x3f))); o.push_back((char)(0x80 | (cp & 0x3f))); }
}

// Decodes the code points of UTF-8; a bad sequence gives U+FFFD for its first byte.
template <typename F>
void eachCodePoint(const std::string& s, F f) {
  const auto* p = reinterpret_cast<const uint8_t*>(s.data());
  size_t n = s.size();
  for (size_t i = 0; i < n;) {
    uint8_t c = p[i];
    uint32_t cp = 0xfffd;
    size_t len = 1;
    if (c < 0x80) cp = c;
    else {
      size_t need = (c & 0xe0) == 0xc0 ? 2 : (c & 0xf0) == 0xe0 ? 3 : (c & 0xf8) == 0xf0 ? 4 : 0;
      if (need && i + need <= n) {
        uint32_t v = c & (0x7f >> need);
        bool ok = true;
        for (size_t k = 1; k < need; k++) {
          if ((p[i + k] & 0xc0) != 0x80) { ok = false; break; }
          v = v << 6 | (p[i + k] & 0x3f);
        }
        static const uint32_t least[] = {0, 0, 0x80, 0x800, 0x10000};
        if (ok && v >= least[need] && v <= 0x10ffff && !(v >= 0xd800 && v <= 0xdfff)) { cp = v; len = need; }
      }
    }
    f(cp);
    i += len;
  }
}

}  // namespace

namespace cliptext {

std::string utf8FromLatin1(const uint8_t* p, size_t n) {
  std::string o;
  o.reserve(n);
  for (size_t i = 0; i < n; i++) putUtf8(o, p[i]);
  return o;
}

std::string latin1FromUtf8(const std::string& s) {
  std::string o;
  eachCodePoint(s, [&](uint32_t cp) { o.push_back(cp < 0x100 ? (char)cp : '?'); });
  return o;
}

std::string validUtf8(const std::string& s) {
  std::string o;
  o.reserve(s.size());
  eachCodePoint(s, [&](uint32_t cp) { putUtf8(o, cp); });
  return o;
}

std::string utf8FromUtf16le(const uint8_t* p, size_t n) {
  std::string o;
  for (size_t i = 0; i + 1 < n; i += 2) {
    uint32_t u = (uint32_t)p[i] | (uint32_t)p[i + 1] << 8;
    if (u == 0) break;
    if (u >= 0xd800 && u <= 0xdbff && i + 3 < n) {
      uint32_t lo = (uint32_t)p[i + 2] | (uint32_t)p[i + 3] << 8;
      if (lo >= 0xdc00 && lo <= 0xdfff) { putUtf8(o, 0x10000 + ((u - 0xd800) << 10) + (lo - 0xdc00)); i += 2; continue; }
    }
    putUtf8(o, (u >= 0xd800 && u <= 0xdfff) ? 0xfffd : u);
  }
  return o;
}

std::vector<uint8_t> utf16leFromUtf8(const std::string& s) {
  std::vector<uint8_t> o;
  auto unit = [&](uint32_t u) { o.push_back((uint8_t)(u & 0xff)); o.push_back((uint8_t)(u >> 8)); };
  eachCodePoint(s, [&](uint32_t cp) {
    if (cp >= 0x10000) { cp -= 0x10000; unit(0xd800 + (cp >> 10)); unit(0xdc00 + (cp & 0x3ff)); }
    else unit(cp);
  });
  unit(0);
  return o;
}

std::string toLf(const std::string& s) {
  std::string o;
  o.reserve(s.size());
  for (size_t i = 0; i < s.size(); i++) {
    if (s[i] == '\r') { o.push_back('\n'); if (i + 1 < s.size() && s[i + 1] == '\n') i++; }
    else o.push_back(s[i]);
  }
  return o;
}

std::string toCrLf(const std::string& s) {
  std::string o;
  o.reserve(s.size() + s.size() / 16);
  for (char c : toLf(s)) { if (c == '\n') o.push_back('\r'); o.push_back(c); }
  return o;
}

}  // namespace cliptext

void RfbClientParser::pointer(uint8_t mask, uint16_t x, uint16_t y, const RfbInput& input) {
  static const struct { uint8_t bit; uint16_t flag; } buttons[] = {{1, kPtrButton1}, {2, kPtrButton3}, {4, kPtrButton2}};
  if (input.pointer) input.pointer(kPtrMove, x, y);
  for (auto b : buttons) {
    if ((mask & b.bit) != (buttons_ & b.bit) && input.pointer) input.pointer(b.flag | ((mask & b.bit) ? kPtrDown : 0), x, y);
  }
  // Wheel "buttons" 4 and 5 are pressed and released per notch; act on the press.
  if ((mask & 8) && !(buttons_ & 8) && input.pointer) input.pointer(kPtrWheel | 0x78, x, y);
  if ((mask & 16) && !(buttons_ & 16) && input.pointer) input.pointer(kPtrWheel | kPtrWheelNegative | 0x88, x, y);
  buttons_ = mask;
}

long RfbClientParser::parse(const uint8_t* b, size_t len, const RfbInput& input) {
  size_t at = 0;
  for (;;) {
    if (at >= len) return (long)at;
    const uint8_t* m = b + at;
    size_t left = len - at;
    switch (m[0]) {
      case 0: {  // SetPixelFormat
        if (left < 20) return (long)at;
        const uint8_t* pf = m + 4;
        pixelFormatOk = pf[0] == 32 && pf[3] == 1 && be16(pf + 4) == 255 && be16(pf + 6) == 255 && be16(pf + 8) == 255
                        && pf[10] <= 24 && pf[11] <= 24 && pf[12] <= 24 && pf[10] % 8 == 0 && pf[11] % 8 == 0 && pf[12] % 8 == 0;
        if (!pixelFormatOk) { error = "only 32-bit true-colour pixel formats are served"; return -1; }
        bigEndian = pf[2] != 0;
        redShift = pf[10]; greenShift = pf[11]; blueShift = pf[12];
        fullUpdateWanted = true;
        at += 20;
        break;
      }
      case 2: {  // SetEncodings
        if (left < 4) return (long)at;
        uint32_t n = be16(m + 2);
        if (n > kMaxEncodings) { error = "too many encodings"; return -1; }
        if (left < 4 + 4 * (size_t)n) return (long)at;
        for (uint32_t i = 0; i < n; i++) {
          int32_t e = (int32_t)be32(m + 4 + 4 * i);
          if (e == -223) desktopSize = true;
          if (e == -308) extendedDesktopSize = true;
          if (e == -258) qemuKeys = true;
          if (e == kExtendedClipboard) extendedClipboard = true;
        }
        at += 4 + 4 * (size_t)n;
        break;
      }
      case 3:  // FramebufferUpdateRequest
        if (left < 10) return (long)at;
        updateWanted = true;
        if (m[1] == 0) fullUpdateWanted = true;
        at += 10;
        break;
      case 4: {  // KeyEvent
        if (left < 8) return (long)at;
        uint32_t sc = scancodeOfKeysym(be32(m + 4));
        if (sc && input.key) input.key(m[1] != 0, sc);
        at += 8;
        break;
      }
      case 5:  // PointerEvent
        if (left < 6) return (long)at;
        pointer(m[1], be16(m + 2), be16(m + 4), input);
        at += 6;
        break;
      case 6: {  // ClientCutText: Latin-1, or (a negative length) an extended clipboard message
        if (left < 8) return (long)at;
        int32_t signedLength = (int32_t)be32(m + 4);
        int64_t magnitude = signedLength < 0 ? -(int64_t)signedLength : signedLength;
        if (magnitude > kMaxCutText) { error = "clipboard text too long"; return -1; }
        size_t n = (size_t)magnitude;
        if (left < 8 + n) return (long)at;
        if (signedLength >= 0) {
          if (input.cutText) input.cutText(cliptext::toLf(cliptext::utf8FromLatin1(m + 8, n)));
        } else if (!extendedCutText(m + 8, n, input)) {
          return -1;
        }
        at += 8 + n;
        break;
      }
      case 251: {  // SetDesktopSize
        if (left < 8) return (long)at;
        uint8_t screens = m[6];
        if (screens == 0 || screens > 16) { error = "SetDesktopSize with no screen or more than 16"; return -1; }
        if (left < 8 + 16 * (size_t)screens) return (long)at;
        if (input.resize) input.resize(be16(m + 2), be16(m + 4));
        at += 8 + 16 * (size_t)screens;
        break;
      }
      case 255: {  // QEMU client message
        if (left < 2) return (long)at;
        if (m[1] != 0) { error = "unknown QEMU client message"; return -1; }
        if (left < 12) return (long)at;
        uint32_t keycode = be32(m + 8);
        if (keycode > 0xff) { error = "scancode out of range"; return -1; }
        if (keycode && input.key) input.key(be16(m + 2) != 0, keycode);
        at += 12;
        break;
      }
      default:
        error = "unknown client message " + std::to_string(m[0]);
        return -1;
    }
  }
}

bool RfbClientParser::extendedCutText(const uint8_t* body, size_t n, const RfbInput& input) {
  if (n < 4) { error = "extended clipboard message without its flags"; return false; }
  uint32_t flags = be32(body);
  uint32_t formats = flags & 0xffff, actions = flags & 0xff000000u;
  if (actions & kClipCaps) return true;  // the client's caps (max sizes follow): it speaks text
  if (actions == kClipRequest) { if (formats & kClipText) clipProvideOwed = true; return true; }
  if (actions == kClipPeek) { clipNotifyOwed = true; return true; }
  if (actions == kClipNotify) { if (formats & kClipText) clipRequestOwed = true; return true; }
  if (actions == kClipProvide) {
    if (!(formats & kClipText)) return true;
    std::vector<uint8_t> data;
    if (!inflateCapped(body + 4, n - 4, kMaxCutText + 4, data)) { error = "extended clipboard data does not inflate within the cap"; return false; }
    // Formats come in bit order, and text is bit 0: its size and bytes come first.
    if (data.size() < 4) { error = "extended clipboard data too short"; return false; }
    uint32_t size = be32(data.data());
    if (size > data.size() - 4) { error = "extended clipboard text longer than its data"; return false; }
    std::string text(reinterpret_cast<const char*>(data.data() + 4), size);
    while (!text.empty() && text.back() == '\0') text.pop_back();
    if (input.cutText) input.cutText(cliptext::toLf(cliptext::validUtf8(text)));
    return true;
  }
  return true;  // an action this server does not take (several at once): ignored
}

void RfbServer::setClipboard(std::string text) {
  if (text.size() > RfbClientParser::kMaxCutText) text.resize(RfbClientParser::kMaxCutText);
  clip_ = cliptext::validUtf8(text);
  clipChanged_ = true;
}

void RfbServer::refuseResize(uint16_t status) { resizeRefusal_ = status ? status : 3; }

void RfbServer::resize(uint32_t w, uint32_t h, uint32_t stride, const uint8_t* fb) {
  if (w != w_ || h != h_) sizeChanged_ = fd_ >= 0;
  w_ = w; h_ = h; stride_ = stride; fb_ = fb;
  damage({0, 0, w, h});
}

void RfbServer::damage(Rect r) {
  if (r.x >= w_ || r.y >= h_ || r.w == 0 || r.h == 0) return;
  r.w = std::min(r.w, w_ - r.x);
  r.h = std::min(r.h, h_ - r.y);
  if (!haveDirty_) { dirty_ = r; haveDirty_ = true; return; }
  uint32_t x2 = std::max(dirty_.x + dirty_.w, r.x + r.w), y2 = std::max(dirty_.y + dirty_.h, r.y + r.h);
  dirty_.x = std::min(dirty_.x, r.x);
  dirty_.y = std::min(dirty_.y, r.y);
  dirty_.w = x2 - dirty_.x;
  dirty_.h = y2 - dirty_.y;
}

bool RfbServer::writeAll(const uint8_t* p, size_t n) {
  while (n > 0) {
    ssize_t k = ::write(fd_, p, n);
    if (k < 0 && errno == EINTR) continue;
    if (k < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
      pollfd pf{fd_, POLLOUT, 0};
      if (::poll(&pf, 1, 30'000) <= 0) return false;  // the gateway stopped reading
      continue;
    }
    if (k <= 0) return false;
    p += k;
    n -= (size_t)k;
  }
  return true;
}

RfbServer::~RfbServer() {
  if (fd_ >= 0) ::close(fd_);
}

bool RfbServer::start(int fd) {
  fd_ = fd;
  auto readExactly = [&](uint8_t* p, size_t n) {
    while (n > 0) {
      pollfd pf{fd_, POLLIN, 0};
      if (::poll(&pf, 1, 10'000) <= 0) return false;
      ssize_t k = ::read(fd_, p, n);
      if (k <= 0) return false;
      p += k;
      n -= (size_t)k;
    }
    return true;
  };
  const char* version = "RFB 003.008\n";
  if (!writeAll(reinterpret_cast<const uint8_t*>(version), 12)) return false;
  uint8_t v[12];
  if (!readExactly(v, 12) || std::memcmp(v, "RFB 003.00", 10) != 0) return false;
  const uint8_t types[] = {1, 1};  // one type: None
  if (!writeAll(types, 2)) return false;
  uint8_t choice;
  if (!readExactly(&choice, 1) || choice != 1) return false;
  const uint8_t ok[] = {0, 0, 0, 0};
  if (!writeAll(ok, 4)) return false;
  uint8_t shared;
  if (!readExactly(&shared, 1)) return false;
  std::vector<uint8_t> init;
  put16(init, (uint16_t)w_); put16(init, (uint16_t)h_);
  const uint8_t pf[16] = {32, 24, 0, 1, 0, 255, 0, 255, 0, 255, 16, 8, 0, 0, 0, 0};
  init.insert(init.end(), pf, pf + 16);
  put32(init, (uint32_t)name_.size());
  init.insert(init.end(), name_.begin(), name_.end());
  if (!writeAll(init.data(), init.size())) return false;
  sizeChanged_ = false;
  // From here reads do not block (poll tells when there is something).
  return true;
}

bool RfbServer::readClient(const RfbInput& input) {
  for (;;) {
    pollfd pf{fd_, POLLIN, 0};
    int r = ::poll(&pf, 1, 0);
    if (r == 0) return true;
    if (r < 0) return errno == EINTR;
    uint8_t buf[16384];
    ssize_t k = ::read(fd_, buf, sizeof buf);
    if (k <= 0) return false;
    in_.insert(in_.end(), buf, buf + k);
    if (in_.size() > RfbClientParser::kMaxCutText + 64) return false;
    long used = parser_.parse(in_.data(), in_.size(), input);
    if (used < 0) { std::fprintf(stderr, "rdp-bridge: client: %s\n", parser_.error.c_str()); return false; }
    in_.erase(in_.begin(), in_.begin() + used);
  }
}

// Messages other than framebuffer updates: the clipboard. They need no update request.
bool RfbServer::writeControl() {
  out_.clear();
  auto cutText = [&](int32_t length) { out_.push_back(3); out_.push_back(0); out_.push_back(0); out_.push_back(0); put32(out_, (uint32_t)length); };
  auto extended = [&](uint32_t flags, const std::vector<uint8_t>& rest) {
    cutText(-(int32_t)(4 + rest.size()));
    put32(out_, flags);
    out_.insert(out_.end(), rest.begin(), rest.end());
  };
  if (parser_.extendedClipboard && !clipCapsSent_) {
    std::vector<uint8_t> sizes;
    put32(sizes, RfbClientParser::kMaxCutText);
    extended(kClipCaps | kClipRequest | kClipPeek | kClipNotify | kClipProvide | kClipText, sizes);
    clipCapsSent_ = true;
  }
  if (parser_.clipRequestOwed) { extended(kClipRequest | kClipText, {}); parser_.clipRequestOwed = false; }
  if (parser_.clipNotifyOwed) { extended(kClipNotify | (clip_.empty() ? 0 : kClipText), {}); parser_.clipNotifyOwed = false; }
  if (clipChanged_ && parser_.extendedClipboard) { extended(kClipNotify | kClipText, {}); clipChanged_ = false; }
  if (clipChanged_) {  // plain cut text: Latin-1
    std::string l = cliptext::latin1FromUtf8(clip_);
    cutText((int32_t)l.size());
    out_.insert(out_.end(), l.begin(), l.end());
    clipChanged_ = false;
  }
  if (parser_.clipProvideOwed) {
    parser_.clipProvideOwed = false;
    std::string text = cliptext::toCrLf(clip_);
    std::vector<uint8_t> raw;
    put32(raw, (uint32_t)text.size() + 1);
    raw.insert(raw.end(), text.begin(), text.end());
    raw.push_back(0);
    uLongf zlen = compressBound((uLong)raw.size());
    std::vector<uint8_t> z(zlen);
    if (compress2(z.data(), &zlen, raw.data(), (uLong)raw.size(), Z_DEFAULT_COMPRESSION) != Z_OK) return false;
    z.resize(zlen);
    extended(kClipProvide | kClipText, z);
  }
  return out_.empty() || writeAll(out_.data(), out_.size());
}

bool RfbServer::flush() {
  if (fd_ < 0) return true;
  if (!writeControl()) return false;
  if (!parser_.updateWanted || !fb_) return true;
  bool announceKeys = parser_.qemuKeys && !qemuKeysAnnounced_;
  // ExtendedDesktopSize where the client has it (it may then ask for sizes), else DesktopSize.
  bool extSize = parser_.extendedDesktopSize;
  bool sizeNote = extSize ? (!extSizeAnnounced_ || sizeChanged_ || resizeRefusal_ != 0) : (sizeChanged_ && parser_.desktopSize);
  if (parser_.fullUpdateWanted) damage({0, 0, w_, h_});
  if (!haveDirty_ && !announceKeys && !sizeNote) return true;
  out_.clear();
  uint16_t rects = (uint16_t)((haveDirty_ ? 1 : 0) + (announceKeys ? 1 : 0) + (sizeNote ? 1 : 0));
  out_.push_back(0); out_.push_back(0); put16(out_, rects);
  auto header = [&](uint32_t x, uint32_t y, uint32_t w, uint32_t h, int32_t enc) {
    put16(out_, (uint16_t)x); put16(out_, (uint16_t)y); put16(out_, (uint16_t)w); put16(out_, (uint16_t)h); put32(out_, (uint32_t)enc);
  };
  if (sizeNote && extSize) {
    // x: why (0 the server, 1 this client's request), y: status (0 done, else refused).
    uint16_t reason = 0, status = 0;
    if (resizeRefusal_) { reason = 1; status = resizeRefusal_; }
    else if (sizeChanged_ && resizeAnswerOwed_) { reason = 1; resizeAnswerOwed_ = false; }
    header(reason, status, w_, h_, -308);
    out_.push_back(1); out_.push_back(0); out_.push_back(0); out_.push_back(0);  // one screen
    put32(out_, 0); put16(out_, 0); put16(out_, 0); put16(out_, (uint16_t)w_); put16(out_, (uint16_t)h_); put32(out_, 0);
    extSizeAnnounced_ = true;
    resizeRefusal_ = 0;
    sizeChanged_ = false;
  } else if (sizeNote) {
    header(0, 0, w_, h_, -223);
    sizeChanged_ = false;
  }
  if (announceKeys) { header(0, 0, 0, 0, -258); qemuKeysAnnounced_ = true; }
  if (haveDirty_) {
    const Rect r = dirty_;
    header(r.x, r.y, r.w, r.h, 0);
    size_t at = out_.size();
    out_.resize(at + (size_t)r.w * r.h * 4);
    uint8_t* o = out_.data() + at;
    for (uint32_t y = 0; y < r.h; y++) {
      const uint8_t* row = fb_ + (size_t)(r.y + y) * stride_ + (size_t)r.x * 4;
      for (uint32_t x = 0; x < r.w; x++, row += 4, o += 4) {
        uint32_t px = (uint32_t)row[2] << parser_.redShift | (uint32_t)row[1] << parser_.greenShift | (uint32_t)row[0] << parser_.blueShift;
        if (parser_.bigEndian) { o[0] = px >> 24; o[1] = px >> 16; o[2] = px >> 8; o[3] = px; }
        else { o[0] = px; o[1] = px >> 8; o[2] = px >> 16; o[3] = px >> 24; }
      }
    }
    haveDirty_ = false;
  }
  parser_.updateWanted = false;
  parser_.fullUpdateWanted = false;
  return writeAll(out_.data(), out_.size());
}

}  // namespace vdi
