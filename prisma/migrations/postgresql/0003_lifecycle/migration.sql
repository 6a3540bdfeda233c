-- AlterTable
ALTER TABLE "Tenant" ADD COLUMN     "maxDiskGiB" INTEGER NOT NULL DEFAULT 100,
ADD COLUMN     "maxSnapshots" INTEGER NOT NULL DEFAULT 50;

-- AlterTable
ALTER TABLE "Template" ADD COLUMN     "nodeId" TEXT,
ADD COLUMN     "sourceVmId" TEXT,
ADD COLUMN     "status" TEXT NOT NULL DEFAULT 'ready';

-- AlterTable
ALTER TABLE "Vm" ADD COLUMN     "cloneMode" TEXT,
ADD COLUMN     "currentSnapshotId" TEXT;

-- AlterTable
ALTER TABLE "Snapshot" ADD COLUMN     "description" TEXT NOT NULL DEFAULT '',
ADD COLUMN     "parentId" TEXT;

