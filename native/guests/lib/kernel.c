/* The tiny guest kernel: CPU tables, interrupt controllers, a timer, syscalls, user mode. */
#include "guest.h"

volatile uint64_t ticks;
struct boot_info* boot;

void serial_putc(char c) { outb(0x3f8, (uint8_t)c); }
void serial_puts(const char* s) { while (*s) serial_putc(*s++); }
void serial_hex(uint64_t v) {
  serial_puts("0x");
  for (int i = 60; i >= 0; i -= 4) serial_putc("0123456789abcdef"[(v >> i) & 15]);
}
void serial_dec(uint64_t v) {
  char b[21]; int n = 0;
  do { b[n++] = (char)('0' + v % 10); v /= 10; } while (v);
  while (n) serial_putc(b[--n]);
}
void guest_exit(uint8_t code) {
  outb(0xf4, code);
  for (;;) __asm__ volatile("cli; hlt");
}

static uint64_t gdt[7];
static struct __attribute__((packed)) { uint32_t r0; uint64_t rsp0, rsp1, rsp2, r1, ist[7], r2; uint16_t r3, iomap; } tss;
static struct __attribute__((packed)) { uint16_t off0, sel; uint8_t ist, attr; uint16_t off1; uint32_t off2, r; } idt[256];
static irq_handler handlers[16];

static void set_gate(int v, void* fn, uint8_t dpl) {
  uint64_t a = (uint64_t)fn;
  idt[v].off0 = (uint16_t)a; idt[v].sel = 0x08; idt[v].ist = 0;
  idt[v].attr = (uint8_t)(0x8e | (dpl << 5));
  idt[v].off1 = (uint16_t)(a >> 16); idt[v].off2 = (uint32_t)(a >> 32); idt[v].r = 0;
}

__attribute__((interrupt)) static void on_exception(struct interrupt_frame* f) {
  serial_puts("guest: exception at "); serial_hex(f->rip); serial_puts("\n");
  guest_exit(0x7f);
}
__attribute__((interrupt)) static void on_exception_err(struct interrupt_frame* f, uint64_t err) {
  serial_puts("guest: exception (error "); serial_hex(err); serial_puts(") at "); serial_hex(f->rip); serial_puts("\n");
  guest_exit(0x7e);
}

#define IRQ_STUB(n) \
  __attribute__((interrupt)) static void irq##n(struct interrupt_frame* f) { (void)f; if (handlers[n]) handlers[n](); if (n >= 8) outb(0xa0, 0x20); outb(0x20, 0x20); }
IRQ_STUB(0) IRQ_STUB(1) IRQ_STUB(2) IRQ_STUB(3) IRQ_STUB(4) IRQ_STUB(5) IRQ_STUB(6) IRQ_STUB(7)
IRQ_STUB(8) IRQ_STUB(9) IRQ_STUB(10) IRQ_STUB(11) IRQ_STUB(12) IRQ_STUB(13) IRQ_STUB(14) IRQ_STUB(15)
static void* const irq_stubs[16] = {irq0, irq1, irq2, irq3, irq4, irq5, irq6, irq7, irq8, irq9, irq10, irq11, irq12, irq13, irq14, irq15};

static void timer_tick(void) { ticks++; }

void cpu_init(void) {
  gdt[0] = 0;
  gdt[1] = 0x00af9a000000ffffULL;  /* kernel code 64 */
  gdt[2] = 0x00cf92000000ffffULL;  /* kernel data */
  gdt[3] = 0x00affa000000ffffULL;  /* user code 64, DPL 3 */
  gdt[4] = 0x00cff2000000ffffULL;  /* user data, DPL 3 */
  uint64_t t = (uint64_t)&tss, lim = sizeof tss - 1;
  gdt[5] = (lim & 0xffff) | ((t & 0xffffff) << 16) | (0x89ULL << 40) | (((lim >> 16) & 0xf) << 48) | (((t >> 24) & 0xff) << 56);
  gdt[6] = t >> 32;
  extern char kernel_stack_top[];
  tss.rsp0 = (uint64_t)kernel_stack_top;
  tss.iomap = sizeof tss;
  struct __attribute__((packed)) { uint16_t lim; uint64_t base; } gp = {sizeof gdt - 1, (uint64_t)gdt};
  __asm__ volatile(
      "lgdt %0\n"
      "mov $0x10, %%ax; mov %%ax, %%ds; mov %%ax, %%es; mov %%ax, %%ss; mov %%ax, %%fs; mov %%ax, %%gs\n"
      "pushq $0x08; lea 1f(%%rip), %%rax; pushq %%rax; lretq\n"
      "1: mov $0x28, %%ax; ltr %%ax\n" ::"m"(gp) : "rax", "memory");
  for (int v = 0; v < 32; v++) {
    int err = v == 8 || (v >= 10 && v <= 14) || v == 17 || v == 21;
    set_gate(v, err ? (void*)on_exception_err : (void*)on_exception, 0);
  }
  for (int i = 0; i < 16; i++) set_gate(32 + i, irq_stubs[i], 0);
  struct __attribute__((packed)) { uint16_t lim; uint64_t base; } ip = {sizeof idt - 1, (uint64_t)idt};
  __asm__ volatile("lidt %0" ::"m"(ip));
}

void pic_init(uint16_t unmask) {
  outb(0x20, 0x11); outb(0xa0, 0x11);   /* ICW1: init, ICW4 follows */
  outb(0x21, 32); outb(0xa1, 40);       /* vector bases */
  outb(0x21, 4); outb(0xa1, 2);         /* cascade on IRQ 2 */
  outb(0x21, 1); outb(0xa1, 1);         /* 8086 mode */
  if (unmask & 0xff00) unmask |= 1 << 2;
  outb(0x21, (uint8_t)~unmask); outb(0xa1, (uint8_t)~(unmask >> 8));
}

void pit_init(uint32_t hz) {
  uint32_t div = 1193182 / hz;
  handlers[0] = timer_tick;
  outb(0x43, 0x36);
  outb(0x40, (uint8_t)div); outb(0x40, (uint8_t)(div >> 8));
}

void irq_set_handler(int irq, irq_handler h) { if (irq >= 0 && irq < 16) handlers[irq] = h; }

void enter_user(void (*fn)(void), uint64_t stack_top) {
  __asm__ volatile(
      "mov $0x23, %%ax; mov %%ax, %%ds; mov %%ax, %%es\n"
      "pushq $0x23\n pushq %1\n pushq $0x202\n pushq $0x1b\n pushq %0\n iretq\n" ::"r"((uint64_t)fn), "r"(stack_top) : "rax", "memory");
  __builtin_unreachable();
}

void kmain(struct boot_info* bi) {
  boot = bi;
  guest_main();
  guest_exit(0);
}
