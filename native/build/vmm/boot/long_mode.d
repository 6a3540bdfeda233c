build/vmm/boot/long_mode.o: vmm/boot/long_mode.cpp vmm/boot/long_mode.h \
 vmm/boot/../kvm/kvm.h vmm/boot/../memory/guest_memory.h
vmm/boot/long_mode.h:
vmm/boot/../kvm/kvm.h:
vmm/boot/../memory/guest_memory.h:
