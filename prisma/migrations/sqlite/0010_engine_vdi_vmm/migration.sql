-- Our own VMM's engine was called "kvm", which is also QEMU's accelerator: it is "vdi-vmm" now.
UPDATE "Template" SET "engine" = 'vdi-vmm' WHERE "engine" = 'kvm';
