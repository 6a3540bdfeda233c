/* Serial output and the debug-exit port; checks the BootInfo the VMM handed over. */
#include "guest.h"

void guest_main(void) {
  serial_puts("hello from the guest\n");
  if (boot->magic != 0x5644494d564d4d31ULL) { serial_puts("bad boot info\n"); guest_exit(2); }
  serial_puts("ram "); serial_dec(boot->ram_size >> 20); serial_puts(" MiB\n");
  guest_exit(0);
}
