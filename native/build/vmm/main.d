build/vmm/main.o: vmm/main.cpp vmm/control/control.h vmm/machine.h \
 vmm/devices/device.h vmm/kvm/kvm.h vmm/memory/guest_memory.h \
 vmm/rfb/rfb_server.h vmm/snapshot/snapshot.h
vmm/control/control.h:
vmm/machine.h:
vmm/devices/device.h:
vmm/kvm/kvm.h:
vmm/memory/guest_memory.h:
vmm/rfb/rfb_server.h:
vmm/snapshot/snapshot.h:
