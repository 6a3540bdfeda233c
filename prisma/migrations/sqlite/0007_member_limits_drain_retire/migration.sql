-- AlterTable
ALTER TABLE "Template" ADD COLUMN "retiredAt" DATETIME;

-- AlterTable
ALTER TABLE "Node" ADD COLUMN "drainedAt" DATETIME;

-- CreateTable
CREATE TABLE "MemberLimit" (
    "userId" TEXT NOT NULL PRIMARY KEY,
    "tenantId" TEXT NOT NULL,
    "maxVms" INTEGER,
    "maxVcpus" INTEGER,
    "maxMemoryMiB" INTEGER,
    "maxDiskGiB" INTEGER,
    "updatedAt" DATETIME NOT NULL,
    CONSTRAINT "MemberLimit_userId_fkey" FOREIGN KEY ("userId") REFERENCES "User" ("id") ON DELETE CASCADE ON UPDATE CASCADE
);

-- CreateIndex
CREATE INDEX "MemberLimit_tenantId_idx" ON "MemberLimit"("tenantId");

