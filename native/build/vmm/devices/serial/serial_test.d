build/vmm/devices/serial/serial_test.o: \
 vmm/devices/serial/serial_test.cpp vmm/devices/serial/serial.h \
 vmm/devices/serial/../device.h vmm/devices/serial/../../../tests/test.h
vmm/devices/serial/serial.h:
vmm/devices/serial/../device.h:
vmm/devices/serial/../../../tests/test.h:
