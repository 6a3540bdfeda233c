build/vmm/rfb/keymap_test.o: vmm/rfb/keymap_test.cpp vmm/rfb/keymap.h \
 vmm/rfb/../../tests/test.h
vmm/rfb/keymap.h:
vmm/rfb/../../tests/test.h:
