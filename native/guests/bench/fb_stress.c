/* Benchmark guest: repaints the whole 1920x1080 screen with a moving gradient, as fast as it
 * can, from user mode; every frame differs everywhere. */
#include "guest.h"

#define W 1920
#define H 1080
static volatile uint32_t* fb;

static void user(void) {
  for (uint32_t k = 0;; k++)
    for (uint32_t y = 0; y < H; y++)
      for (uint32_t x = 0; x < W; x++) fb[y * W + x] = ((x + k) & 0xff) << 16 | ((y + k) & 0xff) << 8 | (k & 0xff);
}

static void vbe(uint16_t i, uint16_t v) { outw(0x1ce, i); outw(0x1cf, v); }

void guest_main(void) {
  cpu_init();
  vbe(4, 0); vbe(1, W); vbe(2, H); vbe(3, 32); vbe(4, 1 | 0x40);
  fb = (volatile uint32_t*)boot->fb_addr;
  extern char user_stack_top[];
  enter_user(user, (uint64_t)user_stack_top);
}

__asm__(".section .bss\n.align 16\nuser_stack: .skip 16384\n.global user_stack_top\nuser_stack_top:\n.text\n");
