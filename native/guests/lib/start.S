/* Entry in 64-bit mode (the VMM set up long mode); rdi = BootInfo. */
.section .text.start
.global _start
_start:
  mov $kernel_stack_top, %rsp
  call kmain
1: cli
  hlt
  jmp 1b

.section .bss
.align 16
.global kernel_stack_top
kernel_stack: .skip 32768
kernel_stack_top:
.section .note.GNU-stack,"",@progbits
