// Finds what a CopyRect can carry: the column range that changed in a band of rows, and the
// longest run of rows that is the previous frame moved up or down (a scroll, even when a
// cursor or a new line at the edge changed too). Pure functions over two frames.
#pragma once
#include <cstdint>

namespace vmm {

struct ChangedColumns { uint32_t x0 = 0, x1 = 0; };  // empty when x0 == x1

// Columns in [0, width) where rows [y0, y1) of `now` differ from `before` (both 32-bit pixels, `stride` bytes a row).
ChangedColumns changedColumns(const uint8_t* before, const uint8_t* now, uint32_t stride, uint32_t width, uint32_t y0, uint32_t y1);

// Rows [y0, y1) of `now` (columns [x0, x1)) equal rows [y0 + dy, y1 + dy) of `before`. dy == 0: none found.
struct Move { int32_t dy = 0; uint32_t y0 = 0, y1 = 0; };

// Searches |dy| ≤ maxShift within band rows [by0, by1) of a frame `height` rows tall; the run must
// hold at least minRows rows that really changed.
Move findMove(const uint8_t* before, const uint8_t* now, uint32_t stride, uint32_t height, uint32_t x0, uint32_t x1, uint32_t by0, uint32_t by1,
              uint32_t maxShift, uint32_t minRows);

}  // namespace vmm
