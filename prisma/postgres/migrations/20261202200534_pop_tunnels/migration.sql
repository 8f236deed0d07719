-- AlterTable
ALTER TABLE "Pop" ADD COLUMN     "tcpPort" INTEGER,
ADD COLUMN     "tlsFingerprint" TEXT,
ADD COLUMN     "tlsPort" INTEGER;
