/* Hostile guest: garbage to every I/O port and to unmapped MMIO, reads past RAM. The VMM must
 * survive and keep running it (reads of nothing return all-ones). Ports that end the VM on
 * purpose (debug exit 0xF4, the i8042 reset command on 0x64) are left out. */
#include "guest.h"

void guest_main(void) {
  cpu_init();
  for (uint32_t p = 0; p < 0x10000; p++) {
    if (p == 0xf4 || p == 0x64 || (p >= 0x3f8 && p < 0x400)) continue;
    outb((uint16_t)p, (uint8_t)(p * 37 + 11));
    (void)inb((uint16_t)p);
  }
  serial_puts("ports done\n");
  /* Past the end of RAM but inside the identity map: MMIO exits nobody claims. */
  volatile uint32_t* past = (volatile uint32_t*)(boot->ram_size + 0x1000);
  if (*past != 0xffffffffu) { serial_puts("read past RAM did not return all-ones\n"); guest_exit(3); }
  for (uint64_t a = 0xf0000000ULL; a < 0xf0100000ULL; a += 0x1000) *(volatile uint64_t*)a = 0xdeadbeefcafef00dULL;
  volatile uint8_t* hole = (volatile uint8_t*)0xfec00000ULL + 0x100000;  /* between IOAPIC and LAPIC */
  (void)*hole;
  serial_puts("mmio done\n");
  guest_exit(0);
}
