-- CreateTable
CREATE TABLE "DesktopPool" (
    "id" TEXT NOT NULL PRIMARY KEY,
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
    "createdAt" DATETIME NOT NULL DEFAULT CURRENT_TIMESTAMP,
    CONSTRAINT "DesktopPool_tenantId_fkey" FOREIGN KEY ("tenantId") REFERENCES "Tenant" ("id") ON DELETE CASCADE ON UPDATE CASCADE
);

-- CreateTable
CREATE TABLE "PoolDesktop" (
    "id" TEXT NOT NULL PRIMARY KEY,
    "poolId" TEXT NOT NULL,
    "vmId" TEXT NOT NULL,
    "userId" TEXT,
    "state" TEXT NOT NULL DEFAULT 'warm',
    "assignedAt" DATETIME,
    "createdAt" DATETIME NOT NULL DEFAULT CURRENT_TIMESTAMP,
    CONSTRAINT "PoolDesktop_poolId_fkey" FOREIGN KEY ("poolId") REFERENCES "DesktopPool" ("id") ON DELETE CASCADE ON UPDATE CASCADE
);

-- CreateTable
CREATE TABLE "SeatSession" (
    "id" TEXT NOT NULL PRIMARY KEY,
    "tenantId" TEXT NOT NULL,
    "seatId" TEXT NOT NULL,
    "userId" TEXT NOT NULL,
    "vmId" TEXT NOT NULL,
    "poolId" TEXT,
    "startedAt" DATETIME NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "lastSeenAt" DATETIME NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "lastInputAt" DATETIME NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "endedAt" DATETIME,
    "endReason" TEXT,
    CONSTRAINT "SeatSession_seatId_fkey" FOREIGN KEY ("seatId") REFERENCES "Seat" ("id") ON DELETE CASCADE ON UPDATE CASCADE
);

-- CreateTable
CREATE TABLE "LoginTiming" (
    "id" TEXT NOT NULL PRIMARY KEY,
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
    "createdAt" DATETIME NOT NULL DEFAULT CURRENT_TIMESTAMP
);

-- CreateTable
CREATE TABLE "Job" (
    "id" TEXT NOT NULL PRIMARY KEY,
    "kind" TEXT NOT NULL,
    "key" TEXT NOT NULL,
    "runAt" DATETIME NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "leaseOwner" TEXT,
    "leaseUntil" DATETIME,
    "attempts" INTEGER NOT NULL DEFAULT 0,
    "lastError" TEXT,
    "updatedAt" DATETIME NOT NULL
);

-- RedefineTables
PRAGMA defer_foreign_keys=ON;
PRAGMA foreign_keys=OFF;
CREATE TABLE "new_Seat" (
    "id" TEXT NOT NULL PRIMARY KEY,
    "tenantId" TEXT NOT NULL,
    "name" TEXT NOT NULL,
    "location" TEXT NOT NULL DEFAULT '',
    "secretHash" TEXT NOT NULL,
    "createdById" TEXT,
    "createdAt" DATETIME NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "lastSeenAt" DATETIME,
    "revokedAt" DATETIME,
    "poolId" TEXT,
    CONSTRAINT "Seat_tenantId_fkey" FOREIGN KEY ("tenantId") REFERENCES "Tenant" ("id") ON DELETE CASCADE ON UPDATE CASCADE,
    CONSTRAINT "Seat_poolId_fkey" FOREIGN KEY ("poolId") REFERENCES "DesktopPool" ("id") ON DELETE SET NULL ON UPDATE CASCADE
);
INSERT INTO "new_Seat" ("createdAt", "createdById", "id", "lastSeenAt", "location", "name", "revokedAt", "secretHash", "tenantId") SELECT "createdAt", "createdById", "id", "lastSeenAt", "location", "name", "revokedAt", "secretHash", "tenantId" FROM "Seat";
DROP TABLE "Seat";
ALTER TABLE "new_Seat" RENAME TO "Seat";
CREATE UNIQUE INDEX "Seat_secretHash_key" ON "Seat"("secretHash");
CREATE UNIQUE INDEX "Seat_tenantId_name_key" ON "Seat"("tenantId", "name");
PRAGMA foreign_keys=ON;
PRAGMA defer_foreign_keys=OFF;

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

