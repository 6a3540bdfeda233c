-- AlterTable (a column with a default: no table rebuild needed)
ALTER TABLE "Vm" ADD COLUMN "shared" BOOLEAN NOT NULL DEFAULT false;
