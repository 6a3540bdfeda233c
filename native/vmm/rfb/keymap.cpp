#include "keymap.h"

#include <cstring>

namespace vmm {

namespace {
// Printable ASCII: unshifted and shifted characters share a key.
uint16_t asciiScancode(uint32_t c) {
  static const char* rows[] = {"1234567890-=", "qwertyuiop[]", "asdfghjkl;'`", "\\zxcvbnm,./"};
  static const char* shifted[] = {"!@#$%^&*()_+", "QWERTYUIOP{}", "ASDFGHJKL:\"~", "|ZXCVBNM<>?"};
  static const uint8_t starts[] = {0x02, 0x10, 0x1e, 0x2b};
  if (c == ' ') return 0x39;
  for (int r = 0; r < 4; r++) {
    const char* p = std::strchr(rows[r], (int)c);
    if (c && c < 128 && p) return (uint16_t)(starts[r] + (p - rows[r]));
    p = std::strchr(shifted[r], (int)c);
    if (c && c < 128 && p) return (uint16_t)(starts[r] + (p - shifted[r]));
  }
  return 0;
}
}  // namespace

std::vector<uint8_t> keysymToScancodes(uint32_t ks, bool down) {
  uint16_t code = 0;  // 0xE0xx for extended keys
  if (ks >= 0x20 && ks < 0x7f) code = asciiScancode(ks);
  else if (ks >= 0xffbe && ks <= 0xffc7) code = (uint16_t)(0x3b + (ks - 0xffbe));  // F1..F10
  else switch (ks) {
    case 0xff08: code = 0x0e; break;  // BackSpace
    case 0xff09: code = 0x0f; break;  // Tab
    case 0xff0d: code = 0x1c; break;  // Return
    case 0xff1b: code = 0x01; break;  // Escape
    case 0xffe1: code = 0x2a; break;  // Shift_L
    case 0xffe2: code = 0x36; break;  // Shift_R
    case 0xffe3: code = 0x1d; break;  // Control_L
    case 0xffe4: code = 0xe01d; break;
    case 0xffe9: case 0xffe7: code = 0x38; break;  // Alt_L / Meta_L
    case 0xffea: code = 0xe038; break;
    case 0xffe5: code = 0x3a; break;  // Caps_Lock
    case 0xffff: code = 0xe053; break;  // Delete
    case 0xff50: code = 0xe047; break;  // Home
    case 0xff51: code = 0xe04b; break;  // Left
    case 0xff52: code = 0xe048; break;  // Up
    case 0xff53: code = 0xe04d; break;  // Right
    case 0xff54: code = 0xe050; break;  // Down
    case 0xff57: code = 0xe04f; break;  // End
    case 0xff55: code = 0xe049; break;  // Page_Up
    case 0xff56: code = 0xe051; break;  // Page_Down
    case 0xff63: code = 0xe052; break;  // Insert
    case 0xffc8: code = 0x57; break;    // F11
    case 0xffc9: code = 0x58; break;    // F12
    default: break;
  }
  std::vector<uint8_t> out;
  if (!code) return out;
  if (code > 0xff) out.push_back(0xe0);
  out.push_back((uint8_t)((code & 0xff) | (down ? 0 : 0x80)));
  return out;
}

}  // namespace vmm
