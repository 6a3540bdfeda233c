build/vmm/machine.o: vmm/machine.cpp vmm/machine.h vmm/devices/device.h \
 vmm/kvm/kvm.h vmm/memory/guest_memory.h vmm/boot/elf_loader.h \
 vmm/boot/long_mode.h
vmm/machine.h:
vmm/devices/device.h:
vmm/kvm/kvm.h:
vmm/memory/guest_memory.h:
vmm/boot/elf_loader.h:
vmm/boot/long_mode.h:
