#include "keymap.h"
#include "../../tests/test.h"

using namespace vmm;

TEST(keymap_letters_shifted_and_extended) {
  CHECK(keysymToScancodes('a', true) == std::vector<uint8_t>{0x1e});
  CHECK(keysymToScancodes('A', false) == std::vector<uint8_t>{0x9e});
  CHECK(keysymToScancodes('>', true) == std::vector<uint8_t>{0x34});
  CHECK(keysymToScancodes(0xff0d, true) == std::vector<uint8_t>{0x1c});
  CHECK((keysymToScancodes(0xff51, false) == std::vector<uint8_t>{0xe0, 0xcb}));
  CHECK(keysymToScancodes(0x12345678, true).empty());
}
