build/vmm/memory/guest_memory.o: vmm/memory/guest_memory.cpp \
 vmm/memory/guest_memory.h vmm/memory/../kvm/kvm.h
vmm/memory/guest_memory.h:
vmm/memory/../kvm/kvm.h:
