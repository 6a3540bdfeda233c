#include "control.h"

#include <cerrno>
#include <thread>
#include <chrono>
#include <cstring>
#include <poll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "../devices/serial/serial.h"
#include "../machine.h"
#include "../migration/migration.h"
#include "../snapshot/snapshot.h"

namespace vmm {

int listenUnix(const std::string& path);

int listenUnix(const std::string& path) {
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  if (path.size() >= sizeof addr.sun_path) throw KvmError("socket path too long: " + path, ENAMETOOLONG);
  std::memcpy(addr.sun_path, path.c_str(), path.size() + 1);
  ::unlink(path.c_str());
  int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) throw KvmError("socket", errno);
  if (::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) < 0 || ::listen(fd, 8) < 0) {
    int e = errno;
    ::close(fd);
    throw KvmError("listen on " + path, e);
  }
  return fd;
}

ControlServer::ControlServer(Machine& m, const std::string& path) : m_(m), path_(path) {
  listenFd_ = listenUnix(path);
  thread_ = std::thread([this] { serve(); });
}

ControlServer::~ControlServer() {
  stopping_ = true;
  ::shutdown(listenFd_, SHUT_RDWR);
  // A command that ended the VM (stop, migrate) still owes its caller the answer.
  for (int i = 0; i < 2000 && busy_; i++) std::this_thread::sleep_for(std::chrono::milliseconds(1));
  int c = clientFd_.load();
  if (c >= 0) ::shutdown(c, SHUT_RDWR);  // unblock a read on a client that stays connected
  if (thread_.joinable()) thread_.join();
  ::close(listenFd_);
  ::unlink(path_.c_str());
}

static const char* stateName(RunState s) {
  return s == RunState::Running ? "running" : s == RunState::Paused ? "paused" : "stopped";
}

std::string ControlServer::execute(Machine& m, const std::string& line) {
  std::string cmd = line.substr(0, line.find(' '));
  std::string arg = line.find(' ') == std::string::npos ? "" : line.substr(line.find(' ') + 1);
  if (cmd == "status") return std::string("ok ") + stateName(m.state()) + " exits=" + std::to_string(m.exits());
  if (cmd == "pause") { m.pause(); return std::string("ok ") + stateName(m.state()); }
  if (cmd == "resume") { m.resume(); return std::string("ok ") + stateName(m.state()); }
  if (cmd == "stop") { m.stop(0, "stopped by the node"); return "ok stopped"; }
  if (cmd == "snapshot") {
    if (arg.empty() || arg[0] != '/') return "error snapshot needs an absolute directory";
    bool wasRunning = m.state() == RunState::Running;
    auto t0 = std::chrono::steady_clock::now();
    if (wasRunning) m.pause();
    std::string err = saveSnapshot(m, arg);
    if (wasRunning) m.resume();
    if (!err.empty()) return "error " + err;
    auto us = std::chrono::duration_cast<std::chrono::microseconds>(std::chrono::steady_clock::now() - t0).count();
    return "ok us=" + std::to_string(us);
  }
  if (cmd == "migrate") {
    if (arg.empty() || arg[0] != '/') return "error migrate needs the target's absolute socket path";
    MigrationStats st;
    std::string err = migrateOut(m, arg, st);
    if (!err.empty()) return "error " + err;
    return "ok total_us=" + std::to_string(st.totalUs) + " downtime_us=" + std::to_string(st.downtimeUs) +
           " rounds=" + std::to_string(st.rounds) + " pages=" + std::to_string(st.pagesSent);
  }
  if (cmd == "serial-in") {
    if (arg.size() % 2 || arg.size() > 2 * 1024) return "error serial-in wants up to 1024 hex bytes";
    std::string bytes;
    for (size_t i = 0; i < arg.size(); i += 2) {
      char* end;
      std::string h = arg.substr(i, 2);
      long v = std::strtol(h.c_str(), &end, 16);
      if (*end) return "error bad hex";
      bytes.push_back((char)v);
    }
    auto* s = dynamic_cast<Serial16550*>(m.device("serial"));
    if (!s) return "error no serial device";
    return "ok queued=" + std::to_string(s->input(reinterpret_cast<const uint8_t*>(bytes.data()), bytes.size()));
  }
  return "error unknown command";
}

void ControlServer::serve() {
  while (!stopping_) {
    int c = ::accept4(listenFd_, nullptr, nullptr, SOCK_CLOEXEC);
    if (c < 0) {
      if (errno == EINTR) continue;
      return;
    }
    clientFd_ = c;
    std::string buf;
    char tmp[512];
    for (;;) {
      ssize_t n = ::read(c, tmp, sizeof tmp);
      if (n <= 0) break;
      buf.append(tmp, (size_t)n);
      size_t nl;
      while ((nl = buf.find('\n')) != std::string::npos) {
        busy_ = true;
        std::string reply = execute(m_, buf.substr(0, nl)) + "\n";
        buf.erase(0, nl + 1);
        ssize_t w = ::write(c, reply.data(), reply.size());
        busy_ = false;
        if (w < 0) break;
      }
      if (buf.size() > kMaxLine) {
        const char* e = "error line too long\n";
        (void)!::write(c, e, std::strlen(e));
        break;
      }
    }
    clientFd_ = -1;
    ::close(c);
  }
}

}  // namespace vmm
