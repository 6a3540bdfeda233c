/* The tiny guest kernel library: serial, debug exit, GDT/TSS/IDT, PIC, PIT, user mode.
 * Everything here runs at CPL 0, which this machine's KVM emulates slowly: keep it short and
 * put hot loops in user mode (enter_user). */
#pragma once
#include <stdint.h>
#include <stddef.h>

struct boot_info {
  uint64_t magic, ram_size, fb_addr, fb_size, vm_id;
  uint8_t mac[8];
};

struct interrupt_frame { uint64_t rip, cs, rflags, rsp, ss; };

static inline void outb(uint16_t p, uint8_t v) { __asm__ volatile("outb %0, %1" ::"a"(v), "Nd"(p)); }
static inline void outw(uint16_t p, uint16_t v) { __asm__ volatile("outw %0, %1" ::"a"(v), "Nd"(p)); }
static inline uint8_t inb(uint16_t p) { uint8_t v; __asm__ volatile("inb %1, %0" : "=a"(v) : "Nd"(p)); return v; }
static inline uint16_t inw(uint16_t p) { uint16_t v; __asm__ volatile("inw %1, %0" : "=a"(v) : "Nd"(p)); return v; }

void serial_putc(char c);
void serial_puts(const char* s);
void serial_hex(uint64_t v);
void serial_dec(uint64_t v);
__attribute__((noreturn)) void guest_exit(uint8_t code);  /* 0 = pass */

typedef void (*irq_handler)(void);
void cpu_init(void);                     /* GDT with user segments, TSS, IDT with exception reporters */
void pic_init(uint16_t unmask);          /* remap IRQ 0-15 to vectors 32-47; unmask the given lines */
void pit_init(uint32_t hz);
void irq_set_handler(int irq, irq_handler h);
/* Drops to CPL 3 with interrupts on; fn must never return. User code reaches the VMM through
 * MMIO stores outside RAM (port I/O faults at CPL 3 here, and so does int $n under this KVM). */
__attribute__((noreturn)) void enter_user(void (*fn)(void), uint64_t stack_top);
#define MMIO_EXIT ((volatile uint8_t*)0xfebf0000ULL)
#define MMIO_PUTC ((volatile uint8_t*)0xfebf0008ULL)
static inline void sys_exit(uint8_t code) { *MMIO_EXIT = code; for (;;) {} }
static inline void sys_puts(const char* s) { while (*s) *MMIO_PUTC = (uint8_t)*s++; }

extern volatile uint64_t ticks;          /* incremented by the timer IRQ when pit_init was called */
extern struct boot_info* boot;

void kmain(struct boot_info* bi);
void guest_main(void);                   /* each guest defines this */
