/* Bochs VBE: identify, read capabilities, set 640x480x32, draw from user mode, check reads back. */
#include "guest.h"

static void vbe_write(uint16_t i, uint16_t v) { outw(0x1ce, i); outw(0x1cf, v); }
static uint16_t vbe_read(uint16_t i) { outw(0x1ce, i); return inw(0x1cf); }
static volatile uint32_t* fb;

static void user(void) {
  for (uint32_t y = 0; y < 480; y++)
    for (uint32_t x = 0; x < 640; x++) fb[y * 640 + x] = (x * 255 / 640) << 16 | (y * 255 / 480) << 8 | 0x40;
  for (uint32_t i = 0; i < 640 * 480; i += 997)
    if (fb[i] != ((i % 640) * 255 / 640 << 16 | (i / 640) * 255 / 480 << 8 | 0x40)) sys_exit(5);
  sys_puts("midway\n");
  volatile uint64_t n = 0;
  while (n < 200000000ULL) n++;  /* stay alive long enough to be snapshotted and viewed */
  sys_exit(0);
}

void guest_main(void) {
  cpu_init();
  if (vbe_read(0) != 0xb0c5) { serial_puts("no Bochs VBE\n"); guest_exit(2); }
  vbe_write(4, 2);  /* GETCAPS */
  if (vbe_read(1) < 640 || vbe_read(2) < 480) guest_exit(3);
  vbe_write(4, 0);
  vbe_write(1, 640); vbe_write(2, 480); vbe_write(3, 32); vbe_write(4, 1 | 0x40);
  if (vbe_read(1) != 640) guest_exit(4);
  fb = (volatile uint32_t*)boot->fb_addr;
  extern char user_stack_top[];
  enter_user(user, (uint64_t)user_stack_top);
}

__asm__(".section .bss\n.align 16\nuser_stack: .skip 16384\n.global user_stack_top\nuser_stack_top:\n.text\n");
