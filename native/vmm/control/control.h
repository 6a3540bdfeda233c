// The control socket: one line per command, one line per answer ("ok ..." or "error ...").
//   status | pause | resume | stop | snapshot <dir> | migrate <target socket> | serial-in <hex bytes>
#pragma once
#include <atomic>
#include <string>
#include <thread>

namespace vmm {

class Machine;

class ControlServer {
 public:
  static constexpr size_t kMaxLine = 4096;
  ControlServer(Machine& m, const std::string& path);
  ~ControlServer();
  // Executes one command line; public for tests.
  static std::string execute(Machine& m, const std::string& line);

 private:
  void serve();
  Machine& m_;
  std::string path_;
  int listenFd_ = -1;
  std::atomic<int> clientFd_{-1};
  std::atomic<bool> busy_{false};  // a command is running or its reply is being written
  std::atomic<bool> stopping_{false};
  std::thread thread_;
};

}  // namespace vmm
