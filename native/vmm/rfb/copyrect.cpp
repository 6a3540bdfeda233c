#include "copyrect.h"

#include <algorithm>
#include <cstring>
#include <vector>

namespace vmm {

ChangedColumns changedColumns(const uint8_t* before, const uint8_t* now, uint32_t stride, uint32_t width, uint32_t y0, uint32_t y1) {
  ChangedColumns c{width, 0};
  for (uint32_t y = y0; y < y1; y++) {
    const uint32_t* a = reinterpret_cast<const uint32_t*>(before + (size_t)y * stride);
    const uint32_t* b = reinterpret_cast<const uint32_t*>(now + (size_t)y * stride);
    if (std::memcmp(a, b, (size_t)width * 4) == 0) continue;
    uint32_t l = 0, r = width;
    while (l < c.x0 && a[l] == b[l]) l++;
    while (r > c.x1 && a[r - 1] == b[r - 1]) r--;
    if (l < c.x0) c.x0 = l;
    if (r > c.x1) c.x1 = r;
  }
  if (c.x1 <= c.x0) c = {0, 0};
  return c;
}

static uint64_t rowHash(const uint8_t* p, size_t n) {
  uint64_t h = 1469598103934665603ULL;  // FNV-1a
  for (size_t i = 0; i < n; i++) h = (h ^ p[i]) * 1099511628211ULL;
  return h;
}

Move findMove(const uint8_t* before, const uint8_t* now, uint32_t stride, uint32_t height, uint32_t x0, uint32_t x1, uint32_t by0, uint32_t by1,
              uint32_t maxShift, uint32_t minRows) {
  Move best;
  if (x1 <= x0 || by1 <= by0 || by1 > height) return best;
  const size_t seg = (size_t)(x1 - x0) * 4, off = (size_t)x0 * 4;
  const uint32_t lo = by0 > maxShift ? by0 - maxShift : 0, hi = std::min(height, by1 + maxShift);
  std::vector<uint64_t> hb(hi - lo), hn(by1 - by0);
  for (uint32_t y = lo; y < hi; y++) hb[y - lo] = rowHash(before + (size_t)y * stride + off, seg);
  for (uint32_t y = by0; y < by1; y++) hn[y - by0] = rowHash(now + (size_t)y * stride + off, seg);
  uint32_t bestLen = 0;
  for (int32_t dy = -(int32_t)maxShift; dy <= (int32_t)maxShift; dy++) {
    if (dy == 0) continue;
    uint32_t runStart = by0, changed = 0;
    for (uint32_t y = by0; y <= by1; y++) {
      int64_t src = (int64_t)y + dy;
      bool match = y < by1 && src >= lo && src < hi && hn[y - by0] == hb[(size_t)(src - lo)];
      if (match) {
        if (y >= lo && y < hi && hn[y - by0] != hb[y - lo]) changed++;
        continue;
      }
      uint32_t len = y - runStart;
      if (len > bestLen && changed >= minRows) {
        // Hashes can collide: confirm byte for byte before trusting the run.
        bool same = true;
        for (uint32_t r = runStart; r < y && same; r++)
          same = std::memcmp(now + (size_t)r * stride + off, before + (size_t)(r + dy) * stride + off, seg) == 0;
        if (same) { bestLen = len; best = {dy, runStart, y}; }
      }
      runStart = y + 1;
      changed = 0;
    }
  }
  return best;
}

}  // namespace vmm
