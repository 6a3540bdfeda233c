build/vmm/rfb/rfb_server.o: vmm/rfb/rfb_server.cpp vmm/rfb/rfb_server.h \
 vmm/rfb/../devices/i8042/i8042.h vmm/rfb/../devices/i8042/../device.h \
 vmm/rfb/../devices/vbe/vbe.h vmm/rfb/../machine.h vmm/rfb/../kvm/kvm.h \
 vmm/rfb/../memory/guest_memory.h vmm/rfb/keymap.h
vmm/rfb/rfb_server.h:
vmm/rfb/../devices/i8042/i8042.h:
vmm/rfb/../devices/i8042/../device.h:
vmm/rfb/../devices/vbe/vbe.h:
vmm/rfb/../machine.h:
vmm/rfb/../kvm/kvm.h:
vmm/rfb/../memory/guest_memory.h:
vmm/rfb/keymap.h:
