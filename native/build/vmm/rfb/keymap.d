build/vmm/rfb/keymap.o: vmm/rfb/keymap.cpp vmm/rfb/keymap.h
vmm/rfb/keymap.h:
