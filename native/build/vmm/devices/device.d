build/vmm/devices/device.o: vmm/devices/device.cpp vmm/devices/device.h
vmm/devices/device.h:
