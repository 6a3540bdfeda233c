// Live migration between two VMM processes over a unix socket: pre-copy of guest RAM driven by
// the KVM dirty log, then a short stop-and-copy of what is still dirty, the framebuffer and the
// machine state (the same state blob snapshots use). The target answers once it has applied it.
#pragma once
#include <cstdint>
#include <memory>
#include <string>

namespace vmm {

class Machine;
struct MachineOptions;

constexpr uint64_t kMigrationMagic = 0x31304749d4d49445ULL;
constexpr uint32_t kMigrationVersion = 1;
// Stop pre-copy when what is still dirty can be sent within the downtime target at the bandwidth
// measured so far (or is at most kConvergedPages), or after kMaxRounds.
constexpr uint64_t kDowntimeTargetUs = 50'000;
constexpr uint64_t kConvergedPages = 256;
constexpr int kMaxRounds = 30;

struct MigrationStats {
  uint64_t totalUs = 0, downtimeUs = 0, pagesSent = 0, rounds = 0;
};

// Source side: the machine keeps running during pre-copy; on success it ends ("migrated").
// Returns "" or an error (then the source VM resumes and keeps running).
std::string migrateOut(Machine& m, const std::string& targetSocket, MigrationStats& stats);

// Target side: waits on `listenPath` for one source, builds the machine (its memory size comes
// from the stream) and loads everything. On error returns nullptr and sets `err`.
std::unique_ptr<Machine> migrateIn(const std::string& listenPath, MachineOptions opts, std::string& err);

}  // namespace vmm
