-- CreateTable
CREATE TABLE "SessionShadow" (
    "id" TEXT NOT NULL,
    "tenantId" TEXT NOT NULL,
    "sessionId" TEXT NOT NULL,
    "adminId" TEXT NOT NULL,
    "control" BOOLEAN NOT NULL DEFAULT false,
    "controlAsked" BOOLEAN NOT NULL DEFAULT false,
    "startedAt" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "endedAt" TIMESTAMP(3),
    "endReason" TEXT,
    "replacedById" TEXT,

    CONSTRAINT "SessionShadow_pkey" PRIMARY KEY ("id")
);

-- CreateIndex
CREATE INDEX "SessionShadow_sessionId_endedAt_idx" ON "SessionShadow"("sessionId", "endedAt");

-- CreateIndex
CREATE INDEX "SessionShadow_endedAt_idx" ON "SessionShadow"("endedAt");

