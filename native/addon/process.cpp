// Process supervision for the node agent: pidfds (a handle to a process that a reused pid cannot
// alias), the child-subreaper bit, and an exit watch that reaps the daemons the agent adopts.
#include <napi.h>

#include <cerrno>
#include <csignal>
#include <memory>
#include <mutex>
#include <string>
#include <system_error>
#include <thread>

#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <sys/eventfd.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "addon.h"

// Debian 12's headers have the numbers; older ones may not, and the numbers are the same on every
// architecture since the syscall tables were unified (Linux 5.1+).
#ifndef SYS_pidfd_send_signal
#define SYS_pidfd_send_signal 424
#endif
#ifndef SYS_pidfd_open
#define SYS_pidfd_open 434
#endif

namespace vdi_native {
namespace {

constexpr int32_t kMaxFd = INT32_MAX;
constexpr int32_t kMaxPid = INT32_MAX;  // the kernel's pid_max is far lower; it answers ESRCH
constexpr int32_t kMaxSignal = _NSIG - 1;

Napi::Value PidfdOpen(const Napi::CallbackInfo& info) {
  int32_t pid = IntArg(info, 0, "pid", 1, kMaxPid);
  // pidfd_open sets O_CLOEXEC itself, so the fd does not leak into processes the agent spawns.
  long fd = ::syscall(SYS_pidfd_open, static_cast<pid_t>(pid), 0u);
  if (fd < 0) throw ErrnoError(info.Env(), errno, "pidfd_open", std::to_string(pid));
  return Napi::Number::New(info.Env(), static_cast<double>(fd));
}

Napi::Value PidfdSendSignal(const Napi::CallbackInfo& info) {
  int32_t fd = IntArg(info, 0, "fd", 0, kMaxFd);
  int32_t sig = IntArg(info, 1, "signal", 0, kMaxSignal);
  if (::syscall(SYS_pidfd_send_signal, fd, sig, nullptr, 0u) < 0) {
    throw ErrnoError(info.Env(), errno, "pidfd_send_signal", "fd " + std::to_string(fd));
  }
  return info.Env().Undefined();
}

bool ReadSubreaper(Napi::Env env) {
  int on = 0;
  if (::prctl(PR_GET_CHILD_SUBREAPER, &on, 0, 0, 0) < 0) throw ErrnoError(env, errno, "prctl", "PR_GET_CHILD_SUBREAPER");
  return on != 0;
}

// Process-wide, not per thread: a worker that sets it changes the whole agent.
Napi::Value SetChildSubreaper(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  bool enable = true;
  if (info.Length() > 0 && !info[0].IsUndefined()) {
    if (!info[0].IsBoolean()) throw Napi::TypeError::New(env, "enabled must be a boolean");
    enable = info[0].As<Napi::Boolean>().Value();
  }
  if (::prctl(PR_SET_CHILD_SUBREAPER, enable ? 1UL : 0UL, 0, 0, 0) < 0) {
    throw ErrnoError(env, errno, "prctl", "PR_SET_CHILD_SUBREAPER");
  }
  return Napi::Boolean::New(env, ReadSubreaper(env));
}

Napi::Value IsChildSubreaper(const Napi::CallbackInfo& info) {
  return Napi::Boolean::New(info.Env(), ReadSubreaper(info.Env()));
}

// What the watch thread learned; code/signal stay unknown (-1) when someone else reaped first.
struct ExitReport {
  bool exited = false;  // false only when the watch itself failed and the process's fate is unknown
  int code = -1;
  int signal = -1;
  bool reaped = false;
};

void CallOnExit(Napi::Env env, Napi::Function onExit, std::nullptr_t*, ExitReport* report) {
  std::unique_ptr<ExitReport> owned(report);
  // A null env: the environment is being torn down and the queue drained without a JS thread.
  if (static_cast<napi_env>(env) == nullptr || onExit.IsEmpty()) return;
  Napi::Object status = Napi::Object::New(env);
  status.Set("exited", Napi::Boolean::New(env, report->exited));
  status.Set("code", report->code >= 0 ? Napi::Value(Napi::Number::New(env, report->code)) : env.Null());
  status.Set("signal", report->signal >= 0 ? Napi::Value(Napi::Number::New(env, report->signal)) : env.Null());
  status.Set("reaped", Napi::Boolean::New(env, report->reaped));
  // An exception from onExit surfaces as an uncaught exception, like one from an event listener.
  onExit.Call({status});
}

using ExitFunction = Napi::TypedThreadSafeFunction<std::nullptr_t, ExitReport, CallOnExit>;

// Shared by the watch thread and the TSFN's finalizer. Node frees a TSFN when its environment is
// torn down (agent exit, worker termination) even while a thread still holds it, so the thread
// may touch `onExit` only under `mutex` while `live` says the finalizer has not run yet.
struct PidfdWatch {
  std::mutex mutex;
  bool live = true;
  ExitFunction onExit;
  UniqueFd pidfd;  // our own dup: the caller may close theirs at any time, and its number be reused
  UniqueFd wake;   // eventfd the finalizer writes to, so a torn-down watch's thread ends
  bool reap = true;
};

ExitReport AwaitExit(PidfdWatch& w, bool* torn_down) {
  pollfd fds[2] = {{w.pidfd.get(), POLLIN, 0}, {w.wake.get(), POLLIN, 0}};
  for (;;) {
    int r = ::poll(fds, 2, -1);
    if (r >= 0) break;
    if (errno != EINTR && errno != ENOMEM) return ExitReport{};
    if (errno == ENOMEM) ::usleep(10'000);
  }
  if (fds[1].revents != 0) {
    *torn_down = true;
    return ExitReport{};
  }
  // The pidfd is readable: the process has ended. If it is our child (a daemon adopted through
  // the subreaper bit, which libuv never waits for), waitid collects its status and, without
  // WNOWAIT, frees the zombie. ECHILD: not our child, or already reaped (libuv reaps what Node
  // spawned), so the status is gone.
  ExitReport report;
  report.exited = true;
  siginfo_t si{};
  int flags = WEXITED | WNOHANG | (w.reap ? 0 : WNOWAIT);
  int r;
  do {
    r = ::waitid(P_PIDFD, static_cast<id_t>(w.pidfd.get()), &si, flags);
  } while (r < 0 && errno == EINTR);
  if (r == 0 && si.si_pid != 0) {
    report.reaped = w.reap;
    if (si.si_code == CLD_EXITED) {
      report.code = si.si_status;
    } else if (si.si_code == CLD_KILLED || si.si_code == CLD_DUMPED) {
      report.signal = si.si_status;
    }
  }
  return report;
}

void RunWatch(std::shared_ptr<PidfdWatch> w) {
  // Named so /proc/<pid>/task/*/comm shows how many watches an agent holds (and tests can count).
  ::pthread_setname_np(::pthread_self(), "vdi-pidfd-watch");
  bool torn_down = false;
  ExitReport report = AwaitExit(*w, &torn_down);
  std::lock_guard<std::mutex> lock(w->mutex);
  if (torn_down || !w->live) return;
  auto* queued = new ExitReport(report);
  // NonBlockingCall never waits for the JS thread, so holding `mutex` here cannot deadlock
  // against the finalizer, which takes it on that thread.
  napi_status status = w->onExit.NonBlockingCall(queued);
  if (status != napi_ok) delete queued;
  // After napi_closing the TSFN is the environment's to free; releasing it would be a use after free.
  if (status != napi_closing) w->onExit.Release();
}

void FinalizeWatch(Napi::Env, std::shared_ptr<PidfdWatch>* held, std::nullptr_t*) {
  std::shared_ptr<PidfdWatch> w(std::move(*held));
  delete held;
  {
    std::lock_guard<std::mutex> lock(w->mutex);
    w->live = false;
  }
  uint64_t one = 1;
  // Best effort: after a normal exit report the thread is already gone and nobody reads this.
  ssize_t n = ::write(w->wake.get(), &one, sizeof one);
  (void)n;
}

Napi::Value WatchPidfd(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int32_t fd = IntArg(info, 0, "fd", 0, kMaxFd);
  if (info.Length() < 2 || !info[1].IsFunction()) throw Napi::TypeError::New(env, "onExit must be a function");
  auto w = std::make_shared<PidfdWatch>();
  if (info.Length() > 2 && !info[2].IsUndefined()) {
    if (!info[2].IsObject()) throw Napi::TypeError::New(env, "options must be an object");
    Napi::Value reap = info[2].As<Napi::Object>().Get("reap");
    if (!reap.IsUndefined()) {
      if (!reap.IsBoolean()) throw Napi::TypeError::New(env, "options.reap must be a boolean");
      w->reap = reap.As<Napi::Boolean>().Value();
    }
  }
  w->pidfd = UniqueFd(::fcntl(fd, F_DUPFD_CLOEXEC, 0));
  if (!w->pidfd) throw ErrnoError(env, errno, "fcntl", "F_DUPFD_CLOEXEC fd " + std::to_string(fd));
  // A plain fd passes poll() and fails only later in waitid; say so now, at the call.
  if (::syscall(SYS_pidfd_send_signal, w->pidfd.get(), 0, nullptr, 0u) < 0 && errno != ESRCH && errno != EPERM) {
    throw ErrnoError(env, errno, "pidfd_send_signal", "fd " + std::to_string(fd) + " (not a pidfd?)");
  }
  w->wake = UniqueFd(::eventfd(0, EFD_CLOEXEC));
  if (!w->wake) throw ErrnoError(env, errno, "eventfd");

  auto* held = new std::shared_ptr<PidfdWatch>(w);  // the finalizer's reference; it deletes this
  try {
    w->onExit = ExitFunction::New(env, info[1].As<Napi::Function>(), "vdi-native:watchPidfd", 0, 1, nullptr,
                                  FinalizeWatch, held);
  } catch (...) {
    delete held;
    throw;
  }
  // A watch is a listener, not work: the agent must still be able to exit while it waits.
  w->onExit.Unref(env);
  try {
    std::thread(RunWatch, w).detach();
  } catch (const std::system_error& e) {
    w->onExit.Release();  // the finalizer runs and drops its reference
    throw ErrnoError(env, e.code().value(), "pthread_create", "watchPidfd");
  }
  return env.Undefined();
}

}  // namespace

void InitProcess(Napi::Env env, Napi::Object exports) {
  exports.Set("pidfdOpen", Napi::Function::New(env, PidfdOpen, "pidfdOpen"));
  exports.Set("pidfdSendSignal", Napi::Function::New(env, PidfdSendSignal, "pidfdSendSignal"));
  exports.Set("setChildSubreaper", Napi::Function::New(env, SetChildSubreaper, "setChildSubreaper"));
  exports.Set("isChildSubreaper", Napi::Function::New(env, IsChildSubreaper, "isChildSubreaper"));
  exports.Set("watchPidfd", Napi::Function::New(env, WatchPidfd, "watchPidfd"));
}

}  // namespace vdi_native
