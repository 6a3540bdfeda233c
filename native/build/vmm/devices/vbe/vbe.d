build/vmm/devices/vbe/vbe.o: vmm/devices/vbe/vbe.cpp \
 vmm/devices/vbe/vbe.h vmm/devices/vbe/../device.h \
 vmm/devices/vbe/../../machine.h vmm/devices/vbe/../../kvm/kvm.h \
 vmm/devices/vbe/../../memory/guest_memory.h
vmm/devices/vbe/vbe.h:
vmm/devices/vbe/../device.h:
vmm/devices/vbe/../../machine.h:
vmm/devices/vbe/../../kvm/kvm.h:
vmm/devices/vbe/../../memory/guest_memory.h:
