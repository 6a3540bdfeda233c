-- AlterTable
ALTER TABLE "Seat" ADD COLUMN     "poolId" TEXT;

-- CreateTable
CREATE TABLE "DesktopPool" (
    "id" TEXT NOT NULL,
    "tenantId" TEXT NOT NULL,
    "name" TEXT NOT NULL,
    "templateId" TEXT NOT NULL,
    "policy" TEXT NOT NULL,
    "warmSize" INTEGER NOT NULL DEFAULT 0,
    "maxSize" INTEGER NOT NULL DEFAULT 10,
    "perUserLimit" INTEGER NOT NULL DEFAULT 1,
    "disconnectMinutes" INTEGER NOT NULL DEFAULT 15,
    "idleLogoffMinutes" INTEGER NOT NULL DEFAULT 60,
    "createdById" TEXT NOT NULL,
    "createdAt" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "DesktopPool_pkey" PRIMARY KEY ("id")
);

-- CreateTable
CREATE TABLE "PoolDesktop" (
    "id" TEXT NOT NULL,
    "poolId" TEXT NOT NULL,
    "vmId" TEXT NOT NULL,
    "userId" TEXT,
    "state" TEXT NOT NULL DEFAULT 'warm',
    "assignedAt" TIMESTAMP(3),
    "createdAt" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "PoolDesktop_pkey" PRIMARY KEY ("id")
);

-- CreateTable
CREATE TABLE "SeatSession" (
    "id" TEXT NOT NULL,
    "tenantId" TEXT NOT NULL,
    "seatId" TEXT NOT NULL,
    "userId" TEXT NOT NULL,
    "vmId" TEXT NOT NULL,
    "poolId" TEXT,
    "startedAt" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "lastSeenAt" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "lastInputAt" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "endedAt" TIMESTAMP(3),
    "endReason" TEXT,

    CONSTRAINT "SeatSession_pkey" PRIMARY KEY ("id")
);

-- CreateTable
CREATE TABLE "LoginTiming" (
    "id" TEXT NOT NULL,
    "tenantId" TEXT NOT NULL,
    "poolId" TEXT,
    "seatId" TEXT NOT NULL,
    "userId" TEXT NOT NULL,
    "sessionId" TEXT NOT NULL,
    "path" TEXT NOT NULL,
    "authMs" INTEGER NOT NULL,
    "brokerMs" INTEGER NOT NULL,
    "startMs" INTEGER,
    "firstFrameMs" INTEGER,
    "createdAt" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "LoginTiming_pkey" PRIMARY KEY ("id")
);

-- CreateTable
CREATE TABLE "Job" (
    "id" TEXT NOT NULL,
    "kind" TEXT NOT NULL,
    "key" TEXT NOT NULL,
    "runAt" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "leaseOwner" TEXT,
    "leaseUntil" TIMESTAMP(3),
    "attempts" INTEGER NOT NULL DEFAULT 0,
    "lastError" TEXT,
    "updatedAt" TIMESTAMP(3) NOT NULL,

    CONSTRAINT "Job_pkey" PRIMARY KEY ("id")
);

-- CreateIndex
CREATE UNIQUE INDEX "DesktopPool_tenantId_name_key" ON "DesktopPool"("tenantId", "name");

-- CreateIndex
CREATE UNIQUE INDEX "PoolDesktop_vmId_key" ON "PoolDesktop"("vmId");

-- CreateIndex
CREATE INDEX "PoolDesktop_poolId_state_idx" ON "PoolDesktop"("poolId", "state");

-- CreateIndex
CREATE INDEX "PoolDesktop_poolId_userId_idx" ON "PoolDesktop"("poolId", "userId");

-- CreateIndex
CREATE INDEX "SeatSession_userId_endedAt_idx" ON "SeatSession"("userId", "endedAt");

-- CreateIndex
CREATE INDEX "SeatSession_seatId_endedAt_idx" ON "SeatSession"("seatId", "endedAt");

-- CreateIndex
CREATE INDEX "SeatSession_endedAt_idx" ON "SeatSession"("endedAt");

-- CreateIndex
CREATE UNIQUE INDEX "LoginTiming_sessionId_key" ON "LoginTiming"("sessionId");

-- CreateIndex
CREATE INDEX "LoginTiming_tenantId_poolId_createdAt_idx" ON "LoginTiming"("tenantId", "poolId", "createdAt");

-- CreateIndex
CREATE UNIQUE INDEX "Job_key_key" ON "Job"("key");

-- CreateIndex
CREATE INDEX "Job_runAt_idx" ON "Job"("runAt");

-- AddForeignKey
ALTER TABLE "Seat" ADD CONSTRAINT "Seat_poolId_fkey" FOREIGN KEY ("poolId") REFERENCES "DesktopPool"("id") ON DELETE SET NULL ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "DesktopPool" ADD CONSTRAINT "DesktopPool_tenantId_fkey" FOREIGN KEY ("tenantId") REFERENCES "Tenant"("id") ON DELETE CASCADE ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "PoolDesktop" ADD CONSTRAINT "PoolDesktop_poolId_fkey" FOREIGN KEY ("poolId") REFERENCES "DesktopPool"("id") ON DELETE CASCADE ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "SeatSession" ADD CONSTRAINT "SeatSession_seatId_fkey" FOREIGN KEY ("seatId") REFERENCES "Seat"("id") ON DELETE CASCADE ON UPDATE CASCADE;

