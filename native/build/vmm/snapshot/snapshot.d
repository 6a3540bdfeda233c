build/vmm/snapshot/snapshot.o: vmm/snapshot/snapshot.cpp \
 vmm/snapshot/snapshot.h vmm/snapshot/../machine.h \
 vmm/snapshot/../devices/device.h vmm/snapshot/../kvm/kvm.h \
 vmm/snapshot/../memory/guest_memory.h
vmm/snapshot/snapshot.h:
vmm/snapshot/../machine.h:
vmm/snapshot/../devices/device.h:
vmm/snapshot/../kvm/kvm.h:
vmm/snapshot/../memory/guest_memory.h:
