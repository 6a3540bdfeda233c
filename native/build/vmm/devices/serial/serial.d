build/vmm/devices/serial/serial.o: vmm/devices/serial/serial.cpp \
 vmm/devices/serial/serial.h vmm/devices/serial/../device.h \
 vmm/devices/serial/../../kvm/kvm.h
vmm/devices/serial/serial.h:
vmm/devices/serial/../device.h:
vmm/devices/serial/../../kvm/kvm.h:
