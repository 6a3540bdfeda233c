-- AlterTable
ALTER TABLE "Operation" ADD COLUMN "detail" TEXT;

