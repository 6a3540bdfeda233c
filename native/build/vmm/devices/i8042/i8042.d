build/vmm/devices/i8042/i8042.o: vmm/devices/i8042/i8042.cpp \
 vmm/devices/i8042/i8042.h vmm/devices/i8042/../device.h
vmm/devices/i8042/i8042.h:
vmm/devices/i8042/../device.h:
