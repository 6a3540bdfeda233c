-- CreateTable
CREATE TABLE "SessionShadow" (
    "id" TEXT NOT NULL PRIMARY KEY,
    "tenantId" TEXT NOT NULL,
    "sessionId" TEXT NOT NULL,
    "adminId" TEXT NOT NULL,
    "control" BOOLEAN NOT NULL DEFAULT false,
    "controlAsked" BOOLEAN NOT NULL DEFAULT false,
    "startedAt" DATETIME NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "endedAt" DATETIME,
    "endReason" TEXT,
    "replacedById" TEXT
);

-- CreateIndex
CREATE INDEX "SessionShadow_sessionId_endedAt_idx" ON "SessionShadow"("sessionId", "endedAt");

-- CreateIndex
CREATE INDEX "SessionShadow_endedAt_idx" ON "SessionShadow"("endedAt");

