build/vmm/control/control.o: vmm/control/control.cpp \
 vmm/control/control.h vmm/control/../devices/serial/serial.h \
 vmm/control/../devices/serial/../device.h vmm/control/../machine.h \
 vmm/control/../kvm/kvm.h vmm/control/../memory/guest_memory.h \
 vmm/control/../snapshot/snapshot.h
vmm/control/control.h:
vmm/control/../devices/serial/serial.h:
vmm/control/../devices/serial/../device.h:
vmm/control/../machine.h:
vmm/control/../kvm/kvm.h:
vmm/control/../memory/guest_memory.h:
vmm/control/../snapshot/snapshot.h:
