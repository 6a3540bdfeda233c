#include "snapshot.h"
#include "../devices/device.h"
#include "../../tests/test.h"

#include <zlib.h>

using namespace vmm;

static std::vector<uint8_t> makeState(uint32_t version, const std::vector<uint8_t>& body, bool goodCrc = true) {
  StateWriter f;
  f.put(kSnapshotMagic);
  f.put(version);
  f.put((uint64_t)64);
  f.put((uint64_t)7);
  f.put((uint32_t)(crc32(0, body.data(), (uInt)body.size()) ^ (goodCrc ? 0 : 1)));
  f.put((uint32_t)body.size());
  f.buf.insert(f.buf.end(), body.begin(), body.end());
  return f.buf;
}

TEST(snapshot_header_is_checked) {
  std::vector<uint8_t> body(100, 0xab);
  SnapshotInfo info;
  CHECK(parseSnapshotState(makeState(kSnapshotVersion, body), info).empty() && info.memMiB == 64 && info.vmId == 7);
  CHECK(parseSnapshotState(makeState(kSnapshotVersion + 1, body), info).find("unsupported snapshot version") == 0);
  CHECK(parseSnapshotState(makeState(kSnapshotVersion, body, false), info).find("checksum") == 0);
  auto t = makeState(kSnapshotVersion, body);
  t.resize(t.size() - 1);
  CHECK(parseSnapshotState(t, info).find("state length") == 0);
  t.resize(10);
  CHECK(!parseSnapshotState(t, info).empty());
  std::vector<uint8_t> junk(64, 0);
  CHECK(parseSnapshotState(junk, info).find("not a snapshot") == 0);
}
