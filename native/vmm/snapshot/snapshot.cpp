#include "snapshot.h"

#include <cerrno>
#include <cstddef>
#include <cstdio>
#include <cstring>
#include <fcntl.h>
#include <fstream>
#include <iterator>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#include "../machine.h"

namespace vmm {

namespace {

const uint32_t kMsrs[] = {0x10, 0x174, 0x175, 0x176, 0x1a0, 0x277, 0x6e0, 0xc0000081, 0xc0000082, 0xc0000083, 0xc0000084, 0xc0000102};
constexpr size_t kNumMsrs = sizeof(kMsrs) / sizeof(kMsrs[0]);

// kvm_msrs ends in a flexible array: lay the header and entries out by hand.
struct MsrBuf {
  uint32_t nmsrs;
  uint32_t pad;
  kvm_msr_entry e[kNumMsrs];
};

std::string writeAll(int fd, const void* p, size_t n) {
  const uint8_t* b = static_cast<const uint8_t*>(p);
  while (n) {
    ssize_t w = ::write(fd, b, std::min<size_t>(n, 1 << 30));
    if (w < 0) {
      if (errno == EINTR) continue;
      return std::strerror(errno);
    }
    b += w;
    n -= (size_t)w;
  }
  return "";
}

// Memory images are written sparse: all-zero pages become holes (never-touched RAM costs nothing
// on disk and reads back as zeros), the rest with pwrite; the file gets its full size.
std::string writeSparse(int fd, const uint8_t* p, size_t n) {
  constexpr size_t kPage = 4096;
  static const uint8_t zero[kPage] = {};
  size_t run = 0;  // start of the current run of non-zero pages
  bool inRun = false;
  for (size_t off = 0; off <= n; off += kPage) {
    bool isZero = off == n || std::memcmp(p + off, zero, std::min(kPage, n - off)) == 0;
    if (!isZero && !inRun) { run = off; inRun = true; }
    if (isZero && inRun) {
      for (size_t done = run; done < off;) {
        ssize_t w = ::pwrite(fd, p + done, off - done, (off_t)done);
        if (w < 0) { if (errno == EINTR) continue; return std::strerror(errno); }
        done += (size_t)w;
      }
      inRun = false;
    }
  }
  return ::ftruncate(fd, (off_t)n) < 0 ? std::string(std::strerror(errno)) : "";
}

std::string writeFileSynced(const std::string& path, const void* p, size_t n, bool sparse = false) {
  int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
  if (fd < 0) return path + ": " + std::strerror(errno);
  std::string err = sparse ? writeSparse(fd, static_cast<const uint8_t*>(p), n) : writeAll(fd, p, n);
  if (err.empty() && ::fsync(fd) < 0) err = std::strerror(errno);
  ::close(fd);
  return err.empty() ? "" : path + ": " + err;
}

template <typename T> void putRaw(StateWriter& w, const T& v) { w.bytes(&v, sizeof v); }
template <typename T> bool getRaw(StateReader& r, T& v) {
  std::vector<uint8_t> b;
  if (!r.bytes(b, sizeof v) || b.size() != sizeof v) return false;
  std::memcpy(&v, b.data(), sizeof v);
  return true;
}

}  // namespace

std::string captureState(Machine& m, std::vector<uint8_t>& out) {
  StateWriter w;
  try {
    std::lock_guard<std::mutex> g(m.vcpuMutex());
    int vfd = m.vcpu().fd();
    kvm_regs regs; KVM_CALL(vfd, KVM_GET_REGS, &regs); putRaw(w, regs);
    kvm_sregs sregs; KVM_CALL(vfd, KVM_GET_SREGS, &sregs); putRaw(w, sregs);
    kvm_xsave xs; KVM_CALL(vfd, kGetXsave, &xs); putRaw(w, xs);
    kvm_xcrs xcrs; KVM_CALL(vfd, KVM_GET_XCRS, &xcrs); putRaw(w, xcrs);
    MsrBuf msrs{};
    msrs.nmsrs = kNumMsrs;
    for (size_t i = 0; i < kNumMsrs; i++) msrs.e[i].index = kMsrs[i];
    long got = KVM_CALL(vfd, kGetMsrs, &msrs);
    msrs.nmsrs = (uint32_t)got;
    putRaw(w, msrs);
    kvm_lapic_state lapic; KVM_CALL(vfd, KVM_GET_LAPIC, &lapic); putRaw(w, lapic);
    kvm_vcpu_events ev; KVM_CALL(vfd, KVM_GET_VCPU_EVENTS, &ev); putRaw(w, ev);
    kvm_mp_state mp; KVM_CALL(vfd, KVM_GET_MP_STATE, &mp); putRaw(w, mp);
    for (uint32_t chip = 0; chip < 3; chip++) {
      kvm_irqchip ic{}; ic.chip_id = chip; KVM_CALL(m.vm().fd(), KVM_GET_IRQCHIP, &ic); putRaw(w, ic);
    }
    kvm_pit_state2 pit; KVM_CALL(m.vm().fd(), KVM_GET_PIT2, &pit); putRaw(w, pit);
    kvm_clock_data clk{}; KVM_CALL(m.vm().fd(), KVM_GET_CLOCK, &clk); putRaw(w, clk);
  } catch (const KvmError& e) {
    return std::string("reading vCPU state: ") + e.what();
  }
  w.put((uint32_t)m.devices().size());
  for (auto& [name, dev] : m.devices()) {
    w.bytes(name.data(), (uint32_t)name.size());
    StateWriter dw;
    dev->save(dw);
    w.bytes(dw.buf.data(), (uint32_t)dw.buf.size());
  }
  out = std::move(w.buf);
  return "";
}

std::string saveSnapshot(Machine& m, const std::string& dir) {
  if (m.state() != RunState::Paused) return "the VM must be paused";
  struct stat st;
  if (::stat(dir.c_str(), &st) == 0) return dir + " already exists";
  const std::string tmp = dir + ".tmp-" + std::to_string(::getpid());
  if (::mkdir(tmp.c_str(), 0700) < 0) return tmp + ": " + std::strerror(errno);

  std::vector<uint8_t> state;
  std::string err = captureState(m, state);
  if (!err.empty()) { ::rmdir(tmp.c_str()); return err; }
  StateWriter file;
  file.put(kSnapshotMagic);
  file.put(kSnapshotVersion);
  file.put(m.options().memMiB);
  file.put(m.options().vmId);
  file.put((uint32_t)crc32(0, state.data(), (uInt)state.size()));
  file.put((uint32_t)state.size());
  file.buf.insert(file.buf.end(), state.begin(), state.end());

  if (err.empty()) err = writeFileSynced(tmp + "/ram.bin", m.ram().host(), m.ram().size(), true);
  if (err.empty()) err = writeFileSynced(tmp + "/fb.bin", m.fb().host(), m.fb().size(), true);
  if (err.empty()) err = writeFileSynced(tmp + "/state.bin", file.buf.data(), file.buf.size());
  if (err.empty() && ::rename(tmp.c_str(), dir.c_str()) < 0) err = std::string("rename: ") + std::strerror(errno);
  if (!err.empty()) {
    for (const char* f : {"/ram.bin", "/fb.bin", "/state.bin"}) ::unlink((tmp + f).c_str());
    ::rmdir(tmp.c_str());
    return err;
  }
  // Make the rename itself durable.
  std::string parent = dir.substr(0, dir.find_last_of('/') == std::string::npos ? 0 : dir.find_last_of('/'));
  int pfd = ::open(parent.empty() ? "." : parent.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (pfd >= 0) { ::fsync(pfd); ::close(pfd); }
  return "";
}

std::string parseSnapshotState(const std::vector<uint8_t>& f, SnapshotInfo& info) {
  StateReader r(f.data(), f.size());
  uint64_t magic; uint32_t version, crc, len;
  if (!r.get(magic) || magic != kSnapshotMagic) return "not a snapshot (bad magic)";
  if (!r.get(version)) return "truncated header";
  if (version != kSnapshotVersion) return "unsupported snapshot version " + std::to_string(version) + " (this VMM reads " + std::to_string(kSnapshotVersion) + ")";
  if (!r.get(info.memMiB) || !r.get(info.vmId) || !r.get(crc) || !r.get(len)) return "truncated header";
  if (info.memMiB < 2 || info.memMiB > kMaxMemMiB) return "memory size out of range";
  const size_t headerSize = 8 + 4 + 8 + 8 + 4 + 4;
  if (len > kMaxStateBytes || f.size() != headerSize + len) return "state length does not match the file (truncated?)";
  if ((uint32_t)crc32(0, f.data() + headerSize, len) != crc) return "checksum mismatch (corrupted state)";
  info.version = version;
  return "";
}

static std::string readFile(const std::string& path, std::vector<uint8_t>& out, size_t max) {
  std::ifstream in(path, std::ios::binary | std::ios::ate);
  if (!in) return "cannot open " + path;
  auto size = (size_t)in.tellg();
  if (size > max) return path + " is too large";
  out.resize(size);
  in.seekg(0);
  in.read(reinterpret_cast<char*>(out.data()), (std::streamsize)size);
  return in ? "" : "cannot read " + path;
}

std::string readSnapshotInfo(const std::string& dir, SnapshotInfo& info) {
  std::vector<uint8_t> f;
  std::string err = readFile(dir + "/state.bin", f, kMaxStateBytes + 64);
  if (!err.empty()) return err;
  return parseSnapshotState(f, info);
}

std::string restoreSnapshot(Machine& m, const std::string& dir) {
  std::vector<uint8_t> f;
  std::string err = readFile(dir + "/state.bin", f, kMaxStateBytes + 64);
  if (!err.empty()) return err;
  SnapshotInfo info;
  if (!(err = parseSnapshotState(f, info)).empty()) return err;
  if (info.memMiB != m.options().memMiB) return "memory size differs from the machine";

  // RAM and framebuffer: mapped privately from the files, paged in on first touch.
  auto mapFile = [](const std::string& path, uint64_t size, std::unique_ptr<GuestMemory>& out) -> std::string {
    int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) return path + ": " + std::strerror(errno);
    struct stat st;
    if (::fstat(fd, &st) < 0 || (uint64_t)st.st_size != size) { ::close(fd); return path + " has the wrong size (truncated?)"; }
    try {
      out = std::make_unique<GuestMemory>(fd, 0, size);
    } catch (const KvmError& e) {
      ::close(fd);
      return e.what();
    }
    ::close(fd);  // the mapping keeps the file
    return "";
  };
  std::unique_ptr<GuestMemory> ram, fb;
  if (!(err = mapFile(dir + "/ram.bin", info.memMiB << 20, ram)).empty()) return err;
  if (!(err = mapFile(dir + "/fb.bin", kFbSize, fb)).empty()) return err;

  m.replaceRam(std::move(ram), std::move(fb));
  const size_t headerSize = 8 + 4 + 8 + 8 + 4 + 4;
  return applyState(m, f.data() + headerSize, f.size() - headerSize);
}

std::string applyState(Machine& m, const uint8_t* p, size_t n) {
  StateReader r(p, n);
  kvm_regs regs; kvm_sregs sregs; kvm_xsave xs; kvm_xcrs xcrs; MsrBuf msrs; kvm_lapic_state lapic; kvm_vcpu_events ev; kvm_mp_state mp;
  kvm_irqchip ic[3]; kvm_pit_state2 pit; kvm_clock_data clk;
  if (!getRaw(r, regs) || !getRaw(r, sregs) || !getRaw(r, xs) || !getRaw(r, xcrs) || !getRaw(r, msrs) || !getRaw(r, lapic) ||
      !getRaw(r, ev) || !getRaw(r, mp) || !getRaw(r, ic[0]) || !getRaw(r, ic[1]) || !getRaw(r, ic[2]) || !getRaw(r, pit) || !getRaw(r, clk))
    return "truncated vCPU state";
  if (msrs.nmsrs > kNumMsrs) return "bad MSR count";
  uint32_t ndev;
  if (!r.get(ndev) || ndev > kMaxDevices) return "bad device count";
  std::vector<std::pair<std::string, std::vector<uint8_t>>> devs;
  for (uint32_t i = 0; i < ndev; i++) {
    std::vector<uint8_t> name, state;
    if (!r.bytes(name, 64) || !r.bytes(state, kMaxDeviceState)) return "truncated device state";
    devs.emplace_back(std::string(name.begin(), name.end()), std::move(state));
  }
  if (!r.done()) return "trailing bytes in state";

  try {
    int vfd = m.vcpu().fd();
    std::vector<uint8_t> cpuid = m.sys().supportedCpuid();
    KVM_CALL(vfd, kSetCpuid2, cpuid.data());
    KVM_CALL(vfd, KVM_SET_SREGS, &sregs);
    KVM_CALL(vfd, KVM_SET_REGS, &regs);
    KVM_CALL(vfd, kSetXsave, &xs);
    KVM_CALL(vfd, KVM_SET_XCRS, &xcrs);
    KVM_CALL(vfd, kSetMsrs, &msrs);
    KVM_CALL(vfd, KVM_SET_LAPIC, &lapic);
    KVM_CALL(vfd, KVM_SET_VCPU_EVENTS, &ev);
    KVM_CALL(vfd, KVM_SET_MP_STATE, &mp);
    for (auto& c : ic) KVM_CALL(m.vm().fd(), KVM_SET_IRQCHIP, &c);
    KVM_CALL(m.vm().fd(), KVM_SET_PIT2, &pit);
    clk.flags = 0;
    KVM_CALL(m.vm().fd(), KVM_SET_CLOCK, &clk);
  } catch (const KvmError& e) {
    return std::string("loading vCPU state: ") + e.what();
  }
  for (auto& [name, state] : devs) {
    Device* d = m.device(name);
    if (!d) return "snapshot has unknown device " + name;
    StateReader dr(state.data(), state.size());
    if (!d->restore(dr)) return "bad state for device " + name;
  }
  return "";
}

}  // namespace vmm
