build/vmm/boot/elf_loader.o: vmm/boot/elf_loader.cpp \
 vmm/boot/elf_loader.h vmm/boot/../memory/guest_memory.h
vmm/boot/elf_loader.h:
vmm/boot/../memory/guest_memory.h:
