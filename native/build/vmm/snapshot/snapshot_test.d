build/vmm/snapshot/snapshot_test.o: vmm/snapshot/snapshot_test.cpp \
 vmm/snapshot/snapshot.h vmm/snapshot/../devices/device.h \
 vmm/snapshot/../../tests/test.h
vmm/snapshot/snapshot.h:
vmm/snapshot/../devices/device.h:
vmm/snapshot/../../tests/test.h:
