// X keysyms (RFB KeyEvent, RFC 6143 §7.5.4) to PC scancode set 1 make codes.
#pragma once
#include <cstdint>
#include <vector>

namespace vmm {

// Bytes to send for a key press (down) or release; empty when the keysym is unknown.
std::vector<uint8_t> keysymToScancodes(uint32_t keysym, bool down);

}  // namespace vmm
