build/vmm/devices/vbe/vbe_test.o: vmm/devices/vbe/vbe_test.cpp \
 vmm/devices/vbe/vbe.h vmm/devices/vbe/../device.h \
 vmm/devices/vbe/../../../tests/test.h
vmm/devices/vbe/vbe.h:
vmm/devices/vbe/../device.h:
vmm/devices/vbe/../../../tests/test.h:
