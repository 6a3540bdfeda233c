build/vmm/boot/elf_loader_test.o: vmm/boot/elf_loader_test.cpp \
 vmm/boot/elf_loader.h vmm/boot/../memory/guest_memory.h \
 vmm/boot/../../tests/test.h
vmm/boot/elf_loader.h:
vmm/boot/../memory/guest_memory.h:
vmm/boot/../../tests/test.h:
