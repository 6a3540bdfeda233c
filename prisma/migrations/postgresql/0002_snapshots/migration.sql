-- AlterTable
ALTER TABLE "Vm" ADD COLUMN     "cloneOfSnapshotId" TEXT,
ADD COLUMN     "cloneOfVmId" TEXT,
ADD COLUMN     "lastOpArg" TEXT;

-- CreateTable
CREATE TABLE "Snapshot" (
    "id" TEXT NOT NULL,
    "vmId" TEXT NOT NULL,
    "tenantId" TEXT NOT NULL,
    "name" TEXT NOT NULL,
    "includesRam" BOOLEAN NOT NULL DEFAULT true,
    "sizeBytes" BIGINT NOT NULL DEFAULT 0,
    "status" TEXT NOT NULL DEFAULT 'creating',
    "createdAt" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "Snapshot_pkey" PRIMARY KEY ("id")
);

-- CreateIndex
CREATE INDEX "Snapshot_tenantId_idx" ON "Snapshot"("tenantId");

-- CreateIndex
CREATE UNIQUE INDEX "Snapshot_vmId_name_key" ON "Snapshot"("vmId", "name");

-- AddForeignKey
ALTER TABLE "Snapshot" ADD CONSTRAINT "Snapshot_vmId_fkey" FOREIGN KEY ("vmId") REFERENCES "Vm"("id") ON DELETE CASCADE ON UPDATE CASCADE;

