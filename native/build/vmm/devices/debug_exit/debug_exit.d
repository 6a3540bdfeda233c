build/vmm/devices/debug_exit/debug_exit.o: \
 vmm/devices/debug_exit/debug_exit.cpp \
 vmm/devices/debug_exit/debug_exit.h vmm/devices/debug_exit/../device.h
vmm/devices/debug_exit/debug_exit.h:
vmm/devices/debug_exit/../device.h:
