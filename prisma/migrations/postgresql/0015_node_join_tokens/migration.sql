-- CreateTable
CREATE TABLE "NodeJoinToken" (
    "id" TEXT NOT NULL,
    "tokenHash" TEXT NOT NULL,
    "note" TEXT NOT NULL DEFAULT '',
    "createdById" TEXT,
    "createdAt" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "expiresAt" TIMESTAMP(3) NOT NULL,
    "usedAt" TIMESTAMP(3),
    "usedByNodeId" TEXT,
    "revokedAt" TIMESTAMP(3),

    CONSTRAINT "NodeJoinToken_pkey" PRIMARY KEY ("id")
);

-- CreateIndex
CREATE UNIQUE INDEX "NodeJoinToken_tokenHash_key" ON "NodeJoinToken"("tokenHash");

