// vdi-vmm: one microVM per process. Usage:
//   vdi-vmm --kernel guest.elf [--mem MiB] [--serial-log file] [--control sock] [--vnc sock]
//           [--restore dir] [--vm-id n] [--mac aa:bb:cc:dd:ee:ff] [--runas uid:gid]
// With --runas the VMM opens KVM, its guest and restore files and its sockets as the user that
// started it, then becomes uid:gid for good (no supplementary groups, no_new_privs), as QEMU's
// -runas does: a guest that escapes into the VMM holds an unprivileged user's rights only.
// Exit status: the guest's debug-exit status, or 2+ for VMM-side stops (reason on stderr).
#include <chrono>
#include <cstdio>
#include <cstring>
#include <memory>
#include <string>

#include <grp.h>
#include <sys/prctl.h>
#include <unistd.h>

#include "control/control.h"
#include "migration/migration.h"
#include "boot/long_mode.h"
#include "machine.h"
#include "rfb/rfb_server.h"
#include "snapshot/snapshot.h"

using namespace vmm;

// Rewrites the identity fields of the BootInfo page the guest reads (vm id, MAC).
static void setIdentity(Machine& m, const MachineOptions& o) {
  BootInfo bi;
  if (!m.ram().read(kBootInfoAddr, &bi, sizeof bi) || bi.magic != 0x5644494d564d4d31ULL) return;
  bi.vmId = o.vmId;
  std::memcpy(bi.mac, o.mac, 6);
  m.ram().write(kBootInfoAddr, &bi, sizeof bi);
}

// Becomes uid:gid for good; the empty string, or why not. setres[ug]id in glibc applies to every
// thread of the process (the vCPU and socket threads already run).
static std::string dropPrivileges(uid_t uid, gid_t gid) {
  auto why = [](const char* what) { return std::string(what) + ": " + std::strerror(errno); };
  if (::prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0) return why("no_new_privs");
  if (::setgroups(0, nullptr) != 0) return why("setgroups");
  if (::setresgid(gid, gid, gid) != 0) return why("setresgid");
  if (::setresuid(uid, uid, uid) != 0) return why("setresuid");
  if (uid != 0 && ::setuid(0) == 0) return "root could be regained";
  return "";
}

static void usage() {
  std::fprintf(stderr, "usage: vdi-vmm (--kernel guest.elf | --linux bzImage [--initrd f] [--cmdline s] | --restore dir | --incoming sock) [--mem MiB] [--serial-log file] [--control sock] [--vnc sock] [--vm-id n] [--mac xx:xx:xx:xx:xx:xx] [--runas uid:gid]\n");
}

int main(int argc, char** argv) {
  MachineOptions o;
  std::string control, vnc, restoreDir, incoming;
  bool cloneIdentity = false;
  long runUid = -1, runGid = -1;
  for (int i = 1; i < argc; i++) {
    std::string a = argv[i];
    auto next = [&]() -> std::string {
      if (i + 1 >= argc) { usage(); std::exit(64); }
      return argv[++i];
    };
    if (a == "--kernel") o.kernel = next();
    else if (a == "--linux") o.linux = next();
    else if (a == "--initrd") o.initrd = next();
    else if (a == "--cmdline") o.cmdline = next();
    else if (a == "--mem") o.memMiB = std::strtoull(next().c_str(), nullptr, 10);
    else if (a == "--serial-log") o.serialLog = next();
    else if (a == "--control") control = next();
    else if (a == "--vnc") vnc = next();
    else if (a == "--restore") restoreDir = next();
    else if (a == "--incoming") incoming = next();
    else if (a == "--runas") {
      const std::string v = next();
      char* end = nullptr;
      runUid = std::strtol(v.c_str(), &end, 10);
      if (!end || *end != ':' || runUid < 1) { usage(); return 64; }
      runGid = std::strtol(end + 1, &end, 10);
      if (!end || *end != 0 || runGid < 1) { usage(); return 64; }
    }
    else if (a == "--vm-id") { o.vmId = std::strtoull(next().c_str(), nullptr, 10); cloneIdentity = true; }
    else if (a == "--mac") {
      unsigned m[6];
      if (std::sscanf(next().c_str(), "%x:%x:%x:%x:%x:%x", &m[0], &m[1], &m[2], &m[3], &m[4], &m[5]) != 6) { usage(); return 64; }
      for (int k = 0; k < 6; k++) o.mac[k] = (uint8_t)m[k];
      cloneIdentity = true;
    } else { usage(); return 64; }
  }
  if (o.kernel.empty() && o.linux.empty() && restoreDir.empty() && incoming.empty()) { usage(); return 64; }
  try {
    if (!restoreDir.empty()) {
      SnapshotInfo info;
      std::string err = readSnapshotInfo(restoreDir, info);
      if (!err.empty()) { std::fprintf(stderr, "vmm: cannot restore: %s\n", err.c_str()); return 65; }
      o.memMiB = info.memMiB;
    }
    auto t0 = std::chrono::steady_clock::now();
    std::unique_ptr<Machine> owned;
    if (!incoming.empty()) {
      std::string err;
      owned = migrateIn(incoming, o, err);
      if (!owned) { std::fprintf(stderr, "vmm: incoming migration failed: %s\n", err.c_str()); return 65; }
      std::fprintf(stderr, "vmm: migrated in\n");
    } else {
      owned = std::make_unique<Machine>(o);
    }
    Machine& m = *owned;
    if (!restoreDir.empty()) {
      std::string err = restoreSnapshot(m, restoreDir);
      if (!err.empty()) { std::fprintf(stderr, "vmm: cannot restore: %s\n", err.c_str()); return 65; }
      auto us = std::chrono::duration_cast<std::chrono::microseconds>(std::chrono::steady_clock::now() - t0).count();
      std::fprintf(stderr, "vmm: restored from %s in %lld us\n", restoreDir.c_str(), (long long)us);
      if (cloneIdentity) setIdentity(m, o);  // a clone: same memory, new serial number and MAC
    } else if (incoming.empty()) {
      m.boot();
    }
    // The vCPU runs before the sockets appear: whoever sees the control socket sees a running VM.
    m.start();
    std::unique_ptr<RfbServer> rfb;
    if (!vnc.empty()) rfb = std::make_unique<RfbServer>(m, vnc);
    std::unique_ptr<ControlServer> ctl;
    if (!control.empty()) ctl = std::make_unique<ControlServer>(m, control);
    if (runUid > 0) {
      std::string err = dropPrivileges((uid_t)runUid, (gid_t)runGid);
      if (!err.empty()) { std::fprintf(stderr, "vmm: cannot become %ld:%ld: %s\n", runUid, runGid, err.c_str()); return 66; }
    }
    int status = m.waitStopped();
    std::fprintf(stderr, "vmm: stopped: %s\n", m.stopReason().c_str());
    return status;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "vmm: %s\n", e.what());
    return 2;
  }
}
