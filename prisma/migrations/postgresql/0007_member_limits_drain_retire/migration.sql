-- AlterTable
ALTER TABLE "Template" ADD COLUMN     "retiredAt" TIMESTAMP(3);

-- AlterTable
ALTER TABLE "Node" ADD COLUMN     "drainedAt" TIMESTAMP(3);

-- CreateTable
CREATE TABLE "MemberLimit" (
    "userId" TEXT NOT NULL,
    "tenantId" TEXT NOT NULL,
    "maxVms" INTEGER,
    "maxVcpus" INTEGER,
    "maxMemoryMiB" INTEGER,
    "maxDiskGiB" INTEGER,
    "updatedAt" TIMESTAMP(3) NOT NULL,

    CONSTRAINT "MemberLimit_pkey" PRIMARY KEY ("userId")
);

-- CreateIndex
CREATE INDEX "MemberLimit_tenantId_idx" ON "MemberLimit"("tenantId");

-- AddForeignKey
ALTER TABLE "MemberLimit" ADD CONSTRAINT "MemberLimit_userId_fkey" FOREIGN KEY ("userId") REFERENCES "User"("id") ON DELETE CASCADE ON UPDATE CASCADE;

