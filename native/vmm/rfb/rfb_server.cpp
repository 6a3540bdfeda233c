#include "rfb_server.h"

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>
#include <zlib.h>

#include "../devices/i8042/i8042.h"
#include "../devices/vbe/vbe.h"
#include "../machine.h"
#include "copyrect.h"
#include "keymap.h"

namespace vmm {

int listenUnix(const std::string& path);

namespace {
// RFC 6143 constants (§7.5, §7.6, §7.7).
constexpr uint8_t kSetPixelFormat = 0, kSetEncodings = 2, kFbUpdateRequest = 3, kKeyEvent = 4, kPointerEvent = 5, kClientCutText = 6;
constexpr int32_t kEncRaw = 0, kEncCopyRect = 1, kEncZrle = 16, kEncDesktopSize = -223;
constexpr uint32_t kMaxScroll = 128, kMinMovedRows = 16;
constexpr uint32_t kMaxEncodings = 512;
constexpr uint32_t kMaxCutText = 1 << 20;
constexpr int kZrleTile = 64;

void put16(std::vector<uint8_t>& b, uint16_t v) { b.push_back(v >> 8); b.push_back(v & 0xff); }
void put32(std::vector<uint8_t>& b, uint32_t v) { put16(b, v >> 16); put16(b, v & 0xffff); }
}  // namespace

struct PixelFormat {
  uint8_t bpp = 32, depth = 24, bigEndian = 0, trueColour = 1;
  uint16_t rmax = 255, gmax = 255, bmax = 255;
  uint8_t rshift = 16, gshift = 8, bshift = 0;
};

class RfbClient : public std::enable_shared_from_this<RfbClient> {
 public:
  RfbClient(RfbServer& s, int fd) : s_(s), fd_(fd) {}
  ~RfbClient() { ::close(fd_); if (zInit_) deflateEnd(&z_); }
  void run();
  void markDirty(uint32_t y0, uint32_t y1) {
    std::lock_guard<std::mutex> g(mu_);
    if (dirty_.size() < y1) dirty_.resize(y1, false);
    for (uint32_t y = y0; y < y1; y++) dirty_[y] = true;
    cv_.notify_all();
  }
  void markResize() { std::lock_guard<std::mutex> g(mu_); resize_ = true; cv_.notify_all(); }
  void close() { closed_ = true; ::shutdown(fd_, SHUT_RDWR); cv_.notify_all(); }
  bool closed() const { return closed_; }

 private:
  bool readExact(void* p, size_t n, int timeoutMs = -1);
  bool sendAll(const std::vector<uint8_t>& b);
  bool handshake();
  void readLoop();
  void updateLoop();
  void encodeRect(std::vector<uint8_t>& out, const uint8_t* src, const DisplayMode& m, uint32_t x0, uint32_t y0, uint32_t w, uint32_t h, bool zrle);
  void encodeBand(std::vector<uint8_t>& out, uint16_t& rects, const DisplayMode& m, uint32_t y0, uint32_t y1, bool zrle, bool copyRect);
  uint32_t convert(uint32_t px) const {
    uint32_t r = (px >> 16) & 0xff, g = (px >> 8) & 0xff, b = px & 0xff;
    return (r * pf_.rmax / 255) << pf_.rshift | (g * pf_.gmax / 255) << pf_.gshift | (b * pf_.bmax / 255) << pf_.bshift;
  }

  RfbServer& s_;
  int fd_;
  std::atomic<bool> closed_{false};
  std::mutex mu_;
  std::condition_variable cv_;
  PixelFormat pf_;
  bool wantZrle_ = false, wantDesktopSize_ = false, wantCopyRect_ = false;
  // What the client shows (shadow_) and a consistent copy of the rows being sent (grab_).
  std::vector<uint8_t> shadow_, grab_;
  uint32_t shadowStride_ = 0, shadowHeight_ = 0;
  bool updateRequested_ = false, fullRequested_ = true, resize_ = false;
  std::vector<bool> dirty_;
  uint32_t sentWidth_ = 0, sentHeight_ = 0;
  z_stream z_{};
  bool zInit_ = false;
};

bool RfbClient::readExact(void* p, size_t n, int timeoutMs) {
  auto* b = static_cast<uint8_t*>(p);
  while (n) {
    if (timeoutMs >= 0) {
      pollfd pfd{fd_, POLLIN, 0};
      if (::poll(&pfd, 1, timeoutMs) <= 0) return false;
    }
    ssize_t r = ::read(fd_, b, n);
    if (r < 0 && errno == EINTR) continue;
    if (r <= 0) return false;
    b += r;
    n -= (size_t)r;
  }
  return true;
}

bool RfbClient::sendAll(const std::vector<uint8_t>& b) {
  size_t off = 0;
  while (off < b.size()) {
    ssize_t w = ::send(fd_, b.data() + off, b.size() - off, MSG_NOSIGNAL);
    if (w < 0 && errno == EINTR) continue;
    if (w <= 0) return false;
    off += (size_t)w;
  }
  return true;
}

bool RfbClient::handshake() {
  const char* version = "RFB 003.008\n";
  if (!sendAll(std::vector<uint8_t>(version, version + 12))) return false;
  char v[12];
  if (!readExact(v, 12, 10000) || std::memcmp(v, "RFB 003.", 8) != 0) return false;
  if (!sendAll({1, 1})) return false;  // one security type: None (§7.2.1)
  uint8_t sec;
  if (!readExact(&sec, 1, 10000) || sec != 1) return false;
  if (!sendAll({0, 0, 0, 0})) return false;  // SecurityResult OK
  uint8_t shared;
  if (!readExact(&shared, 1, 10000)) return false;
  auto* vbe = dynamic_cast<BochsVbe*>(s_.machine().device("vbe"));
  DisplayMode m = vbe ? vbe->mode() : DisplayMode{};
  sentWidth_ = m.enabled ? m.width : 640;
  sentHeight_ = m.enabled ? m.height : 480;
  std::vector<uint8_t> init;
  put16(init, (uint16_t)sentWidth_);
  put16(init, (uint16_t)sentHeight_);
  init.insert(init.end(), {32, 24, 0, 1});
  put16(init, 255); put16(init, 255); put16(init, 255);
  init.insert(init.end(), {16, 8, 0, 0, 0, 0});
  const std::string name = "vdi microvm";
  put32(init, (uint32_t)name.size());
  init.insert(init.end(), name.begin(), name.end());
  return sendAll(init);
}

void RfbClient::run() {
  if (!handshake()) return close();
  std::thread updater([self = shared_from_this()] { self->updateLoop(); });
  readLoop();
  close();
  updater.join();
}

void RfbClient::readLoop() {
  auto* kbd = dynamic_cast<I8042*>(s_.machine().device("i8042"));
  while (!closed_) {
    uint8_t type;
    if (!readExact(&type, 1)) return;
    switch (type) {
      case kSetPixelFormat: {
        uint8_t b[19];
        if (!readExact(b, 19)) return;
        PixelFormat p;
        p.bpp = b[3]; p.depth = b[4]; p.bigEndian = b[5]; p.trueColour = b[6];
        p.rmax = (uint16_t)(b[7] << 8 | b[8]); p.gmax = (uint16_t)(b[9] << 8 | b[10]); p.bmax = (uint16_t)(b[11] << 8 | b[12]);
        p.rshift = b[13]; p.gshift = b[14]; p.bshift = b[15];
        // Only 32-bit true colour is served; a client asking for less is refused, not crashed.
        if (p.bpp != 32 || !p.trueColour || p.rshift > 24 || p.gshift > 24 || p.bshift > 24 || !p.rmax || !p.gmax || !p.bmax) return;
        std::lock_guard<std::mutex> g(mu_);
        pf_ = p;
        fullRequested_ = true;
        break;
      }
      case kSetEncodings: {
        uint8_t b[3];
        if (!readExact(b, 3)) return;
        uint32_t n = (uint32_t)(b[1] << 8 | b[2]);
        if (n > kMaxEncodings) return;
        std::vector<uint8_t> e(n * 4);
        if (!readExact(e.data(), e.size())) return;
        std::lock_guard<std::mutex> g(mu_);
        wantZrle_ = wantDesktopSize_ = wantCopyRect_ = false;
        for (uint32_t i = 0; i < n; i++) {
          int32_t enc = (int32_t)((uint32_t)e[i * 4] << 24 | e[i * 4 + 1] << 16 | e[i * 4 + 2] << 8 | e[i * 4 + 3]);
          if (enc == kEncZrle) wantZrle_ = true;
          if (enc == kEncDesktopSize) wantDesktopSize_ = true;
          if (enc == kEncCopyRect) wantCopyRect_ = true;
        }
        break;
      }
      case kFbUpdateRequest: {
        uint8_t b[9];
        if (!readExact(b, 9)) return;
        std::lock_guard<std::mutex> g(mu_);
        updateRequested_ = true;
        if (!b[0]) fullRequested_ = true;
        cv_.notify_all();
        break;
      }
      case kKeyEvent: {
        uint8_t b[7];
        if (!readExact(b, 7)) return;
        uint32_t ks = (uint32_t)b[3] << 24 | b[4] << 16 | b[5] << 8 | b[6];
        auto codes = keysymToScancodes(ks, b[0] != 0);
        if (kbd && !codes.empty()) kbd->keyboardBytes(codes.data(), codes.size());
        break;
      }
      case kPointerEvent: {
        uint8_t b[5];
        if (!readExact(b, 5)) return;
        int x = b[1] << 8 | b[2], y = b[3] << 8 | b[4];
        uint8_t mask = b[0];
        // PS/2 mice are relative: send the motion since the last event (y grows upward).
        int dx, dy;
        {
          std::lock_guard<std::mutex> g(s_.mu_);
          dx = x - s_.lastPointerX_;
          dy = s_.lastPointerY_ - y;
          s_.lastPointerX_ = x;
          s_.lastPointerY_ = y;
        }
        uint8_t buttons = (mask & 1) | ((mask & 4) ? 2 : 0) | ((mask & 2) ? 4 : 0);
        if (kbd) kbd->mouseMotion(dx, dy, buttons);
        break;
      }
      case kClientCutText: {
        uint8_t b[7];
        if (!readExact(b, 7)) return;
        uint32_t len = (uint32_t)b[3] << 24 | b[4] << 16 | b[5] << 8 | b[6];
        if (len > kMaxCutText) return;
        std::vector<uint8_t> skip(len);
        if (!readExact(skip.data(), len)) return;
        break;
      }
      default:
        return;  // unknown message: the stream cannot be resynchronised
    }
  }
}

void RfbClient::encodeRect(std::vector<uint8_t>& out, const uint8_t* fb, const DisplayMode& m, uint32_t x0, uint32_t y0, uint32_t w, uint32_t h, bool zrle) {
  const uint32_t y1 = y0 + h, x1 = x0 + w;
  put16(out, (uint16_t)x0); put16(out, (uint16_t)y0); put16(out, (uint16_t)w); put16(out, (uint16_t)h);
  put32(out, (uint32_t)(zrle ? kEncZrle : kEncRaw));
  const bool nativeLe = !pf_.bigEndian && pf_.rshift == 16 && pf_.gshift == 8 && pf_.bshift == 0 && pf_.rmax == 255 && pf_.gmax == 255 && pf_.bmax == 255;
  auto pixel = [&](uint32_t x, uint32_t y) {
    uint32_t px;
    std::memcpy(&px, fb + (size_t)y * m.stride + (size_t)x * 4, 4);  // bounded by DisplayMode checks
    return nativeLe ? (px & 0xffffff) : convert(px);
  };
  if (!zrle) {
    size_t base = out.size();
    out.resize(base + (size_t)w * h * 4);
    uint8_t* o = out.data() + base;
    if (nativeLe) {  // the client wants our own layout: copy whole rows
      for (uint32_t y = y0; y < y1; y++, o += (size_t)w * 4) std::memcpy(o, fb + (size_t)y * m.stride + (size_t)x0 * 4, (size_t)w * 4);
      return;
    }
    for (uint32_t y = y0; y < y1; y++)
      for (uint32_t x = x0; x < x1; x++, o += 4) {
        uint32_t v = pixel(x, y);
        if (pf_.bigEndian) { o[0] = v >> 24; o[1] = v >> 16; o[2] = v >> 8; o[3] = (uint8_t)v; }
        else std::memcpy(o, &v, 4);
      }
    return;
  }
  // ZRLE (§7.7.6): 64×64 tiles, each solid (1 colour) or raw, CPIXELs of 3 bytes, one zlib stream.
  std::vector<uint8_t> raw;
  for (uint32_t ty = y0; ty < y1; ty += kZrleTile) {
    uint32_t th = std::min<uint32_t>(kZrleTile, y1 - ty);
    for (uint32_t tx = x0; tx < x1; tx += kZrleTile) {
      uint32_t tw = std::min<uint32_t>(kZrleTile, x1 - tx);
      uint32_t first = pixel(tx, ty);
      bool solid = true;
      for (uint32_t y = ty; y < ty + th && solid; y++)
        for (uint32_t x = tx; x < tx + tw; x++) if (pixel(x, y) != first) { solid = false; break; }
      if (solid) {
        raw.push_back(1);
        raw.insert(raw.end(), {(uint8_t)first, (uint8_t)(first >> 8), (uint8_t)(first >> 16)});
        continue;
      }
      raw.push_back(0);
      for (uint32_t y = ty; y < ty + th; y++)
        for (uint32_t x = tx; x < tx + tw; x++) {
          uint32_t v = pixel(x, y);
          raw.insert(raw.end(), {(uint8_t)v, (uint8_t)(v >> 8), (uint8_t)(v >> 16)});
        }
    }
  }
  if (!zInit_) { deflateInit(&z_, 1); zInit_ = true; }
  std::vector<uint8_t> comp(deflateBound(&z_, raw.size()) + 64);
  z_.next_in = raw.data(); z_.avail_in = (uInt)raw.size();
  z_.next_out = comp.data(); z_.avail_out = (uInt)comp.size();
  deflate(&z_, Z_SYNC_FLUSH);
  size_t n = comp.size() - z_.avail_out;
  put32(out, (uint32_t)n);
  out.insert(out.end(), comp.begin(), comp.begin() + (long)n);
}

// One dirty band of rows: only the columns that changed, and a CopyRect when they scrolled.
void RfbClient::encodeBand(std::vector<uint8_t>& out, uint16_t& rects, const DisplayMode& m, uint32_t y0, uint32_t y1, bool zrle, bool copyRect) {
  const uint8_t* fb = s_.machine().fb().host();
  const size_t frame = (size_t)m.stride * m.height;
  const bool haveShadow = shadowStride_ == m.stride && shadowHeight_ == m.height && shadow_.size() == frame;
  if (grab_.size() != frame) grab_.assign(frame, 0);
  std::memcpy(grab_.data() + (size_t)y0 * m.stride, fb + (size_t)y0 * m.stride, (size_t)(y1 - y0) * m.stride);
  uint32_t x0 = 0, x1 = m.width;
  Move mv;
  if (haveShadow) {
    ChangedColumns c = changedColumns(shadow_.data(), grab_.data(), m.stride, m.width, y0, y1);
    if (c.x1 == 0) return;  // the guest wrote the same pixels again
    x0 = c.x0;
    x1 = c.x1;
    if (copyRect) mv = findMove(shadow_.data(), grab_.data(), m.stride, m.height, x0, x1, y0, y1, kMaxScroll, kMinMovedRows);
  }
  const uint32_t w = x1 - x0;
  if (mv.dy != 0) {
    // CopyRect (§7.7.2): the destination rectangle, then where it comes from in the client's frame.
    put16(out, (uint16_t)x0); put16(out, (uint16_t)mv.y0); put16(out, (uint16_t)w); put16(out, (uint16_t)(mv.y1 - mv.y0));
    put32(out, (uint32_t)kEncCopyRect);
    put16(out, (uint16_t)x0); put16(out, (uint16_t)(mv.y0 + mv.dy));
    rects++;
    // The rows around the moved run, as pixels (CopyRects apply first: they read the old frame).
    if (mv.y0 > y0) { encodeRect(out, grab_.data(), m, x0, y0, w, mv.y0 - y0, zrle); rects++; }
    if (y1 > mv.y1) { encodeRect(out, grab_.data(), m, x0, mv.y1, w, y1 - mv.y1, zrle); rects++; }
  } else {
    encodeRect(out, grab_.data(), m, x0, y0, w, y1 - y0, zrle);
    rects++;
  }
  const uint32_t h = y1 - y0;
  if (!haveShadow) { shadow_.assign(frame, 0); shadowStride_ = m.stride; shadowHeight_ = m.height; }
  std::memcpy(shadow_.data() + (size_t)y0 * m.stride, grab_.data() + (size_t)y0 * m.stride, (size_t)h * m.stride);
}

void RfbClient::updateLoop() {
  auto* vbe = dynamic_cast<BochsVbe*>(s_.machine().device("vbe"));
  while (!closed_) {
    std::vector<std::pair<uint32_t, uint32_t>> bands;
    bool sendSize = false, zrle, copyRect, full = false;
    DisplayMode m;
    {
      std::unique_lock<std::mutex> l(mu_);
      cv_.wait_for(l, std::chrono::milliseconds(200), [&] {
        return closed_ || (updateRequested_ && (fullRequested_ || resize_ || std::find(dirty_.begin(), dirty_.end(), true) != dirty_.end()));
      });
      if (closed_) return;
      if (!updateRequested_) continue;
      m = vbe ? vbe->mode() : DisplayMode{};
      if (!m.enabled) {  // nothing to show yet; keep the request pending
        cv_.wait_for(l, std::chrono::milliseconds(50));
        continue;
      }
      if (m.width != sentWidth_ || m.height != sentHeight_) {
        if (wantDesktopSize_) {
          sendSize = true;
        } else {
          // The client cannot follow a mode change: keep its size and show what overlaps.
          m.width = std::min(m.width, sentWidth_);
          m.height = std::min(m.height, sentHeight_);
        }
      }
      if (resize_ || sendSize) fullRequested_ = true;
      resize_ = false;
      if (fullRequested_) {
        bands.push_back({0, m.height});
        fullRequested_ = false;
        full = true;
      } else {
        uint32_t y = 0, h = std::min<uint32_t>(m.height, (uint32_t)dirty_.size());
        while (y < h) {
          while (y < h && !dirty_[y]) y++;
          uint32_t start = y;
          while (y < h && dirty_[y]) y++;
          if (y > start) bands.push_back({start, y});
        }
      }
      if (bands.empty() && !sendSize) continue;
      dirty_.assign(dirty_.size(), false);
      updateRequested_ = false;
      zrle = wantZrle_ && !pf_.bigEndian && pf_.rshift <= 16 && pf_.gshift <= 16 && pf_.bshift <= 16;
      copyRect = wantCopyRect_;
    }
    std::vector<uint8_t> msg = {0, 0, 0, 0};  // header; the rectangle count is filled in below
    uint16_t rects = 0;
    if (sendSize) {
      put16(msg, 0); put16(msg, 0); put16(msg, (uint16_t)m.width); put16(msg, (uint16_t)m.height);
      put32(msg, (uint32_t)kEncDesktopSize);
      rects++;
      sentWidth_ = m.width;
      sentHeight_ = m.height;
      shadow_.clear();  // a new size starts a new frame
    }
    if (full) shadow_.clear();
    for (auto [y0, y1] : bands) encodeBand(msg, rects, m, y0, y1, zrle, copyRect);
    if (rects == 0) {  // nothing really changed: keep the request pending
      std::lock_guard<std::mutex> g(mu_);
      updateRequested_ = true;
      continue;
    }
    msg[2] = (uint8_t)(rects >> 8);
    msg[3] = (uint8_t)rects;
    if (!sendAll(msg)) return close();
  }
}

RfbServer::RfbServer(Machine& m, const std::string& path) : m_(m), path_(path) {
  listenFd_ = listenUnix(path);
  acceptThread_ = std::thread([this] { acceptLoop(); });
  tickThread_ = std::thread([this] { tickLoop(); });
}

RfbServer::~RfbServer() {
  stopping_ = true;
  ::shutdown(listenFd_, SHUT_RDWR);
  {
    std::lock_guard<std::mutex> g(mu_);
    for (auto& c : clients_) c->close();
  }
  if (acceptThread_.joinable()) acceptThread_.join();
  if (tickThread_.joinable()) tickThread_.join();
  ::close(listenFd_);
  ::unlink(path_.c_str());
}

void RfbServer::acceptLoop() {
  std::vector<std::thread> threads;
  while (!stopping_) {
    int fd = ::accept4(listenFd_, nullptr, nullptr, SOCK_CLOEXEC);
    if (fd < 0) {
      if (errno == EINTR) continue;
      break;
    }
    auto c = std::make_shared<RfbClient>(*this, fd);
    {
      std::lock_guard<std::mutex> g(mu_);
      clients_.erase(std::remove_if(clients_.begin(), clients_.end(), [](auto& x) { return x->closed(); }), clients_.end());
      if ((int)clients_.size() >= kMaxClients) continue;  // c's destructor closes the socket
      clients_.push_back(c);
    }
    threads.emplace_back([c] { c->run(); });
  }
  for (auto& t : threads) t.join();
}

void RfbServer::tickLoop() {
  auto* vbe = dynamic_cast<BochsVbe*>(m_.device("vbe"));
  uint32_t gen = vbe ? vbe->generation() : 0;
  while (!stopping_) {
    std::this_thread::sleep_for(std::chrono::milliseconds(kTickMs));
    if (!vbe) continue;
    if (vbe->generation() != gen) {
      gen = vbe->generation();
      std::lock_guard<std::mutex> g(mu_);
      for (auto& c : clients_) c->markResize();
    }
    DisplayMode mode = vbe->mode();
    std::vector<uint64_t> bits;
    try {
      bits = m_.vm().dirtyLog(kFbSlot, kFbSize);
    } catch (const KvmError&) {
      continue;
    }
    if (!mode.enabled) continue;
    // Pages → rows: a dirty 4 KiB page covers the rows its bytes belong to.
    uint32_t lastRow = 0;
    bool any = false;
    uint32_t minRow = UINT32_MAX;
    for (size_t w = 0; w < bits.size(); w++) {
      if (!bits[w]) continue;
      for (int b = 0; b < 64; b++) {
        if (!(bits[w] >> b & 1)) continue;
        uint64_t off = (w * 64 + (uint64_t)b) * 4096;
        uint32_t r0 = (uint32_t)(off / mode.stride), r1 = (uint32_t)((off + 4096 + mode.stride - 1) / mode.stride);
        if (r0 >= mode.height) continue;
        minRow = std::min(minRow, r0);
        lastRow = std::max(lastRow, std::min(r1, mode.height));
        any = true;
      }
    }
    if (!any) continue;
    std::lock_guard<std::mutex> g(mu_);
    for (auto& c : clients_) c->markDirty(minRow, lastRow);
  }
}

}  // namespace vmm
