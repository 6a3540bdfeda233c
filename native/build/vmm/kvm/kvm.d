build/vmm/kvm/kvm.o: vmm/kvm/kvm.cpp vmm/kvm/kvm.h
vmm/kvm/kvm.h:
