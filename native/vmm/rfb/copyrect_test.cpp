#include "copyrect.h"
#include "../../tests/test.h"

#include <vector>

using namespace vmm;

TEST(copyrect_finds_a_scrolled_text_area_despite_a_cursor) {
  const uint32_t w = 64, h = 64, stride = w * 4;
  std::vector<uint32_t> before(w * h), now(w * h);
  for (uint32_t y = 0; y < h; y++)
    for (uint32_t x = 0; x < w; x++) before[y * w + x] = (x < 8 || x >= 56) ? y * 1000 : (y * 7 + x * 13) % 251;  // a gradient border
  before[50 * w + 20] = 0xffffff;  // a cursor in the old frame
  now = before;
  // Scroll the area x in [8, 56), rows [4, 60) up by 6 rows; new content in the last 6 rows.
  for (uint32_t y = 4; y < 60; y++)
    for (uint32_t x = 8; x < 56; x++) now[y * w + x] = y + 6 < 60 ? before[(y + 6) * w + x] : 99999 + x;
  now[44 * w + 20] = (44 + 6) * 7 % 251;  // ... which the scroll did not carry along (erased)
  auto* b = reinterpret_cast<const uint8_t*>(before.data());
  auto* n = reinterpret_cast<const uint8_t*>(now.data());
  ChangedColumns c = changedColumns(b, n, stride, w, 0, h);
  CHECK(c.x0 == 8 && c.x1 == 56);
  Move m = findMove(b, n, stride, h, c.x0, c.x1, 0, h, 32, 8);
  CHECK(m.dy == 6);
  CHECK(m.y0 <= 4 && m.y1 == 44);  // the run stops at the erased cursor row
  CHECK(findMove(b, b, stride, h, 8, 56, 0, h, 32, 8).dy == 0);  // nothing moved
  CHECK(changedColumns(b, b, stride, w, 0, h).x1 == 0);
  Move down = findMove(n, b, stride, h, 8, 56, 0, h, 32, 8);
  CHECK(down.dy == -6);
}
