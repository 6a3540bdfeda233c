// RFB 3.8 server (RFC 6143) for the microVM's framebuffer on a unix socket, so the node's
// console gateway relays it exactly like QEMU's VNC. Updates are driven by the KVM dirty log of
// the framebuffer slot; encodings: Raw, ZRLE (zlib, noVNC decodes it) and DesktopSize.
#pragma once
#include <atomic>
#include <condition_variable>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

namespace vmm {

class Machine;
class RfbClient;

class RfbServer {
 public:
  static constexpr int kMaxClients = 8;
  static constexpr int kTickMs = 15;
  RfbServer(Machine& m, const std::string& path);
  ~RfbServer();
  Machine& machine() { return m_; }

 private:
  void acceptLoop();
  void tickLoop();
  Machine& m_;
  std::string path_;
  int listenFd_ = -1;
  std::atomic<bool> stopping_{false};
  std::mutex mu_;
  std::vector<std::shared_ptr<RfbClient>> clients_;
  std::thread acceptThread_, tickThread_;
  int lastPointerX_ = 0, lastPointerY_ = 0;
  friend class RfbClient;
};

}  // namespace vmm
