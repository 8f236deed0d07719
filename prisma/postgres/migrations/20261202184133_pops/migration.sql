-- CreateTable
CREATE TABLE "Pop" (
    "id" SERIAL NOT NULL,
    "name" TEXT NOT NULL,
    "publicHost" TEXT,
    "apiUrl" TEXT,
    "heartbeatAt" TIMESTAMP(3),
    "createdAt" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "Pop_pkey" PRIMARY KEY ("id")
);

-- CreateIndex
CREATE UNIQUE INDEX "Pop_name_key" ON "Pop"("name");

-- The one POP of a one-box broker: what was there is its.
INSERT INTO "Pop" ("name") VALUES ('default');

-- AlterTable
ALTER TABLE "User" ADD COLUMN     "popId" INTEGER;
UPDATE "User" SET "popId" = (SELECT "id" FROM "Pop" WHERE "name" = 'default');
ALTER TABLE "User" ALTER COLUMN "popId" SET NOT NULL;

-- AlterTable
ALTER TABLE "Pool" ADD COLUMN     "popId" INTEGER;
UPDATE "Pool" SET "popId" = (SELECT "id" FROM "Pop" WHERE "name" = 'default');
ALTER TABLE "Pool" ALTER COLUMN "popId" SET NOT NULL;

-- AlterTable
ALTER TABLE "Session" ADD COLUMN     "popId" INTEGER;
UPDATE "Session" SET "popId" = (SELECT "id" FROM "Pop" WHERE "name" = 'default');

-- CreateIndex
CREATE INDEX "Session_popId_endedAt_idx" ON "Session"("popId", "endedAt");

-- AddForeignKey
ALTER TABLE "User" ADD CONSTRAINT "User_popId_fkey" FOREIGN KEY ("popId") REFERENCES "Pop"("id") ON DELETE RESTRICT ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "Pool" ADD CONSTRAINT "Pool_popId_fkey" FOREIGN KEY ("popId") REFERENCES "Pop"("id") ON DELETE RESTRICT ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "Session" ADD CONSTRAINT "Session_popId_fkey" FOREIGN KEY ("popId") REFERENCES "Pop"("id") ON DELETE SET NULL ON UPDATE CASCADE;
