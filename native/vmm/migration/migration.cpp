#include "migration.h"

#include <cerrno>
#include <chrono>
#include <cstring>
#include <poll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>
#include <vector>

#include "../machine.h"
#include "../snapshot/snapshot.h"

namespace vmm {

int listenUnix(const std::string& path);

namespace {

constexpr uint64_t kPage = 4096;
enum Record : uint8_t { kRamPage = 1, kFbPage = 2, kState = 4, kDone = 5 };
constexpr uint32_t kMaxState = 1 << 20;

uint64_t nowUs() {
  return (uint64_t)std::chrono::duration_cast<std::chrono::microseconds>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

class Out {
 public:
  explicit Out(int fd) : fd_(fd) {}
  void put(const void* p, size_t n) {
    const auto* b = static_cast<const uint8_t*>(p);
    buf_.insert(buf_.end(), b, b + n);
    if (buf_.size() >= (1 << 20)) flush();
  }
  template <typename T> void put(const T& v) { put(&v, sizeof v); }
  void flush() {
    size_t off = 0;
    while (off < buf_.size() && ok_) {
      ssize_t w = ::send(fd_, buf_.data() + off, buf_.size() - off, MSG_NOSIGNAL);
      if (w < 0 && errno == EINTR) continue;
      if (w <= 0) ok_ = false;
      else off += (size_t)w;
    }
    buf_.clear();
  }
  bool ok() const { return ok_; }
 private:
  int fd_;
  std::vector<uint8_t> buf_;
  bool ok_ = true;
};

bool readExact(int fd, void* p, size_t n) {
  auto* b = static_cast<uint8_t*>(p);
  while (n) {
    ssize_t r = ::read(fd, b, n);
    if (r < 0 && errno == EINTR) continue;
    if (r <= 0) return false;
    b += r;
    n -= (size_t)r;
  }
  return true;
}

bool isZeroPage(const uint8_t* p) {
  static const uint8_t zero[kPage] = {};
  return std::memcmp(p, zero, kPage) == 0;
}

uint64_t sendPages(Out& out, Record type, const uint8_t* base, uint64_t size, const std::vector<uint64_t>* dirty) {
  uint64_t sent = 0;
  for (uint64_t page = 0; page < size / kPage; page++) {
    if (dirty) {
      if (!((*dirty)[page / 64] >> (page % 64) & 1)) continue;
    } else if (isZeroPage(base + page * kPage)) {
      continue;  // the target's memory starts zeroed
    }
    out.put(type);
    uint64_t off = page * kPage;
    out.put(off);
    out.put(base + off, kPage);
    sent++;
  }
  return sent;
}

uint64_t popcount(const std::vector<uint64_t>& bits) {
  uint64_t n = 0;
  for (auto w : bits) n += (uint64_t)__builtin_popcountll(w);
  return n;
}

}  // namespace

std::string migrateOut(Machine& m, const std::string& targetSocket, MigrationStats& st) {
  if (m.state() != RunState::Running) return "the VM must be running";
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  if (targetSocket.size() >= sizeof addr.sun_path) return "target socket path too long";
  std::memcpy(addr.sun_path, targetSocket.c_str(), targetSocket.size() + 1);
  int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0 || ::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) < 0) {
    if (fd >= 0) ::close(fd);
    return "cannot reach the target: " + std::string(std::strerror(errno));
  }
  const uint64_t t0 = nowUs();
  Out out(fd);
  std::vector<uint64_t> carry;  // pages found dirty in the last round but left for the stop-and-copy
  out.put(kMigrationMagic);
  out.put(kMigrationVersion);
  out.put(m.options().memMiB);
  try {
    m.vm().dirtyLog(kRamSlot, m.ram().size());  // start tracking from here
    uint64_t tRound = nowUs();
    st.pagesSent = sendPages(out, kRamPage, m.ram().host(), m.ram().size(), nullptr);
    out.flush();
    // Pages per microsecond the link has taken so far (at least one page per 10 µs assumed).
    double pagesPerUs = std::max(0.1, (double)st.pagesSent / (double)std::max<uint64_t>(1, nowUs() - tRound));
    for (st.rounds = 1; st.rounds < (uint64_t)kMaxRounds && out.ok(); st.rounds++) {
      auto dirty = m.vm().dirtyLog(kRamSlot, m.ram().size());
      const uint64_t n = popcount(dirty);
      if (n <= kConvergedPages || (double)n / pagesPerUs <= (double)kDowntimeTargetUs) {
        carry = std::move(dirty);  // fetching the log cleared it: these go out while paused
        break;
      }
      tRound = nowUs();
      st.pagesSent += sendPages(out, kRamPage, m.ram().host(), m.ram().size(), &dirty);
      out.flush();
      pagesPerUs = std::max(0.1, (double)n / (double)std::max<uint64_t>(1, nowUs() - tRound));
    }
  } catch (const KvmError& e) {
    ::close(fd);
    return std::string("dirty log: ") + e.what();
  }
  // Stop and copy.
  const uint64_t tPause = nowUs();
  m.pause();
  std::vector<uint8_t> state;
  std::string err;
  try {
    auto dirty = m.vm().dirtyLog(kRamSlot, m.ram().size());
    for (size_t i = 0; i < carry.size() && i < dirty.size(); i++) dirty[i] |= carry[i];
    st.pagesSent += sendPages(out, kRamPage, m.ram().host(), m.ram().size(), &dirty);
    st.pagesSent += sendPages(out, kFbPage, m.fb().host(), m.fb().size(), nullptr);
    err = captureState(m, state);
  } catch (const KvmError& e) {
    err = std::string("dirty log: ") + e.what();
  }
  if (err.empty()) {
    out.put(kState);
    out.put((uint32_t)state.size());
    out.put(state.data(), state.size());
    out.put(kDone);
    out.flush();
    char ack[3] = {};
    if (!out.ok() || !readExact(fd, ack, 3)) err = "the target went away";
    else if (std::memcmp(ack, "OK\n", 3) != 0) err = "the target refused the VM";
  }
  ::close(fd);
  if (!err.empty()) {
    m.resume();  // the source still owns the VM
    return err;
  }
  st.downtimeUs = nowUs() - tPause;
  st.totalUs = nowUs() - t0;
  m.stop(0, "migrated to " + targetSocket);
  return "";
}

std::unique_ptr<Machine> migrateIn(const std::string& listenPath, MachineOptions opts, std::string& err) {
  int lfd = listenUnix(listenPath);
  int fd = ::accept4(lfd, nullptr, nullptr, SOCK_CLOEXEC);
  ::close(lfd);
  ::unlink(listenPath.c_str());
  if (fd < 0) { err = "accept failed"; return nullptr; }
  auto fail = [&](const std::string& why) -> std::unique_ptr<Machine> {
    err = why;
    (void)!::write(fd, "ER\n", 3);
    ::close(fd);
    return nullptr;
  };
  uint64_t magic, memMiB;
  uint32_t version;
  if (!readExact(fd, &magic, 8) || magic != kMigrationMagic) return fail("not a migration stream");
  if (!readExact(fd, &version, 4) || version != kMigrationVersion) return fail("unsupported migration version");
  if (!readExact(fd, &memMiB, 8) || memMiB < 2 || memMiB > kMaxMemMiB) return fail("bad memory size");
  opts.memMiB = memMiB;
  opts.kernel.clear();
  auto m = std::make_unique<Machine>(opts);
  std::vector<uint8_t> page(kPage);
  for (;;) {
    uint8_t type;
    if (!readExact(fd, &type, 1)) return fail("stream ended early");
    if (type == kRamPage || type == kFbPage) {
      uint64_t off;
      if (!readExact(fd, &off, 8)) return fail("stream ended early");
      GuestMemory& mem = type == kRamPage ? m->ram() : m->fb();
      // The source is trusted no more than a guest: every offset is checked.
      if (off % kPage || !mem.contains(off, kPage)) return fail("page outside guest memory");
      if (!readExact(fd, mem.host() + off, kPage)) return fail("stream ended early");
    } else if (type == kState) {
      uint32_t len;
      if (!readExact(fd, &len, 4) || len > kMaxState) return fail("bad state length");
      std::vector<uint8_t> state(len);
      if (!readExact(fd, state.data(), len)) return fail("stream ended early");
      std::string e = applyState(*m, state.data(), state.size());
      if (!e.empty()) return fail("cannot load the state: " + e);
    } else if (type == kDone) {
      break;
    } else {
      return fail("unknown record in the stream");
    }
  }
  (void)!::write(fd, "OK\n", 3);
  ::close(fd);
  return m;
}

}  // namespace vmm
