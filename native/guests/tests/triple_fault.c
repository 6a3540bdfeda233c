/* Hostile guest: an empty IDT and a fault. The VM must stop with a clear reason; the VMM lives. */
#include "guest.h"

void guest_main(void) {
  serial_puts("about to triple-fault\n");
  struct __attribute__((packed)) { uint16_t lim; uint64_t base; } empty = {0, 0};
  __asm__ volatile("lidt %0; int3" ::"m"(empty));
  guest_exit(9);  /* not reached */
}
