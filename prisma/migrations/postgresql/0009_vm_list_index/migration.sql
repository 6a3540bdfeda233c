-- CreateIndex
CREATE INDEX "Vm_tenantId_createdAt_id_idx" ON "Vm"("tenantId", "createdAt", "id");

