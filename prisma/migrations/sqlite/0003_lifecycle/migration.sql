-- AlterTable
ALTER TABLE "Vm" ADD COLUMN "cloneMode" TEXT;
ALTER TABLE "Vm" ADD COLUMN "currentSnapshotId" TEXT;

-- RedefineTables
PRAGMA defer_foreign_keys=ON;
PRAGMA foreign_keys=OFF;
CREATE TABLE "new_Tenant" (
    "id" TEXT NOT NULL PRIMARY KEY,
    "slug" TEXT NOT NULL,
    "name" TEXT NOT NULL,
    "maxVms" INTEGER NOT NULL DEFAULT 10,
    "maxVcpus" INTEGER NOT NULL DEFAULT 16,
    "maxMemoryMiB" INTEGER NOT NULL DEFAULT 8192,
    "maxDiskGiB" INTEGER NOT NULL DEFAULT 100,
    "maxSnapshots" INTEGER NOT NULL DEFAULT 50,
    "createdAt" DATETIME NOT NULL DEFAULT CURRENT_TIMESTAMP
);
INSERT INTO "new_Tenant" ("createdAt", "id", "maxMemoryMiB", "maxVcpus", "maxVms", "name", "slug") SELECT "createdAt", "id", "maxMemoryMiB", "maxVcpus", "maxVms", "name", "slug" FROM "Tenant";
DROP TABLE "Tenant";
ALTER TABLE "new_Tenant" RENAME TO "Tenant";
CREATE UNIQUE INDEX "Tenant_slug_key" ON "Tenant"("slug");
CREATE TABLE "new_Template" (
    "id" TEXT NOT NULL PRIMARY KEY,
    "slug" TEXT NOT NULL,
    "title" TEXT NOT NULL,
    "description" TEXT NOT NULL DEFAULT '',
    "engine" TEXT NOT NULL DEFAULT 'qemu',
    "image" TEXT NOT NULL,
    "defaultCpus" INTEGER NOT NULL DEFAULT 1,
    "defaultMemoryMiB" INTEGER NOT NULL DEFAULT 256,
    "minMemoryMiB" INTEGER NOT NULL DEFAULT 128,
    "maxMemoryMiB" INTEGER NOT NULL DEFAULT 2048,
    "maxCpus" INTEGER NOT NULL DEFAULT 4,
    "diskGiB" INTEGER NOT NULL DEFAULT 1,
    "status" TEXT NOT NULL DEFAULT 'ready',
    "nodeId" TEXT,
    "sourceVmId" TEXT,
    "tenantId" TEXT,
    "createdAt" DATETIME NOT NULL DEFAULT CURRENT_TIMESTAMP,
    CONSTRAINT "Template_tenantId_fkey" FOREIGN KEY ("tenantId") REFERENCES "Tenant" ("id") ON DELETE CASCADE ON UPDATE CASCADE
);
INSERT INTO "new_Template" ("createdAt", "defaultCpus", "defaultMemoryMiB", "description", "diskGiB", "engine", "id", "image", "maxCpus", "maxMemoryMiB", "minMemoryMiB", "slug", "tenantId", "title") SELECT "createdAt", "defaultCpus", "defaultMemoryMiB", "description", "diskGiB", "engine", "id", "image", "maxCpus", "maxMemoryMiB", "minMemoryMiB", "slug", "tenantId", "title" FROM "Template";
DROP TABLE "Template";
ALTER TABLE "new_Template" RENAME TO "Template";
CREATE UNIQUE INDEX "Template_slug_key" ON "Template"("slug");
CREATE TABLE "new_Snapshot" (
    "id" TEXT NOT NULL PRIMARY KEY,
    "vmId" TEXT NOT NULL,
    "tenantId" TEXT NOT NULL,
    "name" TEXT NOT NULL,
    "description" TEXT NOT NULL DEFAULT '',
    "parentId" TEXT,
    "includesRam" BOOLEAN NOT NULL DEFAULT true,
    "sizeBytes" BIGINT NOT NULL DEFAULT 0,
    "status" TEXT NOT NULL DEFAULT 'creating',
    "createdAt" DATETIME NOT NULL DEFAULT CURRENT_TIMESTAMP,
    CONSTRAINT "Snapshot_vmId_fkey" FOREIGN KEY ("vmId") REFERENCES "Vm" ("id") ON DELETE CASCADE ON UPDATE CASCADE
);
INSERT INTO "new_Snapshot" ("createdAt", "id", "includesRam", "name", "sizeBytes", "status", "tenantId", "vmId") SELECT "createdAt", "id", "includesRam", "name", "sizeBytes", "status", "tenantId", "vmId" FROM "Snapshot";
DROP TABLE "Snapshot";
ALTER TABLE "new_Snapshot" RENAME TO "Snapshot";
CREATE INDEX "Snapshot_tenantId_idx" ON "Snapshot"("tenantId");
CREATE UNIQUE INDEX "Snapshot_vmId_name_key" ON "Snapshot"("vmId", "name");
PRAGMA foreign_keys=ON;
PRAGMA defer_foreign_keys=OFF;

