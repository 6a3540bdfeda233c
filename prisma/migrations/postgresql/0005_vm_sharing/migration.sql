-- AlterTable
ALTER TABLE "Vm" ADD COLUMN     "shared" BOOLEAN NOT NULL DEFAULT false;

