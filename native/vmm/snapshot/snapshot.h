// Snapshots of a paused microVM in a directory: state.bin (versioned, CRC32-checked: vCPU
// registers, FPU/XSAVE, MSRs, LAPIC, events, irqchip, PIT, clock, devices), ram.bin and fb.bin
// (raw memory, mapped lazily on restore). Written into a temp directory, fsynced, renamed.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

namespace vmm {

class Machine;

constexpr uint32_t kSnapshotVersion = 1;
constexpr uint64_t kSnapshotMagic = 0x0050414e53494456ULL;  // "VDISNAP\0"
constexpr uint32_t kMaxStateBytes = 1 << 20;
constexpr uint32_t kMaxDevices = 64;
constexpr uint32_t kMaxDeviceState = 64 << 10;

struct SnapshotInfo {
  uint32_t version = 0;
  uint64_t memMiB = 0;
  uint64_t vmId = 0;
};

// The machine must be paused. Returns "" or an error.
std::string saveSnapshot(Machine& m, const std::string& dir);
// Parses and checks state.bin without touching a machine.
std::string readSnapshotInfo(const std::string& dir, SnapshotInfo& info);
std::string parseSnapshotState(const std::vector<uint8_t>& file, SnapshotInfo& info);
// Loads RAM (lazily, copy-on-write) and all state into a machine built with info.memMiB.
std::string restoreSnapshot(Machine& m, const std::string& dir);

// The machine's non-memory state (vCPU, irqchip, PIT, clock, devices) as one blob, and back.
// Shared by snapshots and live migration. The machine must be paused for capture.
std::string captureState(Machine& m, std::vector<uint8_t>& out);
std::string applyState(Machine& m, const uint8_t* p, size_t n);

}  // namespace vmm
