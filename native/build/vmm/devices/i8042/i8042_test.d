build/vmm/devices/i8042/i8042_test.o: vmm/devices/i8042/i8042_test.cpp \
 vmm/devices/i8042/i8042.h vmm/devices/i8042/../device.h \
 vmm/devices/i8042/../../../tests/test.h
vmm/devices/i8042/i8042.h:
vmm/devices/i8042/../device.h:
vmm/devices/i8042/../../../tests/test.h:
