/* PIT interrupts through the in-kernel PIC while the guest runs in user mode (CPL 3).
 * Prints "midway" so the harness can snapshot, then needs 100 more ticks to pass. */
#include "guest.h"

static void user(void) {
  volatile uint64_t spins = 0;
  while (ticks < 50) spins++;
  sys_puts("midway\n");
  uint64_t start = ticks;
  while (ticks < start + 100) spins++;
  if (spins < 1000) sys_exit(4);  /* user mode made no progress */
  sys_puts("ticks ok\n");
  /* The identity is read at the end, so a clone restored from "midway" shows its own. */
  char id[] = "vm id 0000\n";
  uint64_t v = boot->vm_id;
  for (int i = 9; i >= 6; i--) { id[i] = (char)('0' + v % 10); v /= 10; }
  sys_puts(id);
  sys_exit(0);
}

void guest_main(void) {
  cpu_init();
  pic_init(1 << 0);
  pit_init(100);
  extern char user_stack_top[];
  enter_user(user, (uint64_t)user_stack_top);
}

__asm__(".section .bss\n.align 16\nuser_stack: .skip 16384\n.global user_stack_top\nuser_stack_top:\n.text\n");
