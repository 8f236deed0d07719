-- RedefineTables
PRAGMA defer_foreign_keys=ON;
PRAGMA foreign_keys=OFF;
CREATE TABLE "new_Session" (
    "id" INTEGER NOT NULL PRIMARY KEY AUTOINCREMENT,
    "userId" INTEGER,
    "userName" TEXT NOT NULL DEFAULT '',
    "type" TEXT NOT NULL,
    "transport" TEXT NOT NULL,
    "clientIpv4" TEXT NOT NULL,
    "serverIpv4" TEXT NOT NULL,
    "clientUdpPort" INTEGER,
    "serverUdpPort" INTEGER,
    "clientIpv6" TEXT,
    "serverIpv6" TEXT,
    "prefix" TEXT,
    "startedAt" DATETIME NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "endedAt" DATETIME,
    "endReason" TEXT,
    "bytesIn" BIGINT NOT NULL DEFAULT 0,
    "bytesOut" BIGINT NOT NULL DEFAULT 0,
    "packetsIn" BIGINT NOT NULL DEFAULT 0,
    "packetsOut" BIGINT NOT NULL DEFAULT 0,
    CONSTRAINT "Session_userId_fkey" FOREIGN KEY ("userId") REFERENCES "User" ("id") ON DELETE SET NULL ON UPDATE CASCADE
);
INSERT INTO "new_Session" ("bytesIn", "bytesOut", "clientIpv4", "clientIpv6", "clientUdpPort", "endReason", "endedAt", "id", "packetsIn", "packetsOut", "prefix", "serverIpv4", "serverIpv6", "serverUdpPort", "startedAt", "transport", "type", "userId") SELECT "bytesIn", "bytesOut", "clientIpv4", "clientIpv6", "clientUdpPort", "endReason", "endedAt", "id", "packetsIn", "packetsOut", "prefix", "serverIpv4", "serverIpv6", "serverUdpPort", "startedAt", "transport", "type", "userId" FROM "Session";
-- Sessions keep the name of their user, so that the history survives the account.
UPDATE "new_Session" SET "userName" = COALESCE((SELECT "name" FROM "User" WHERE "User"."id" = "new_Session"."userId"), '');
DROP TABLE "Session";
ALTER TABLE "new_Session" RENAME TO "Session";
CREATE INDEX "Session_userId_startedAt_idx" ON "Session"("userId", "startedAt");
CREATE INDEX "Session_userName_startedAt_idx" ON "Session"("userName", "startedAt");
CREATE INDEX "Session_endedAt_idx" ON "Session"("endedAt");
PRAGMA foreign_keys=ON;
PRAGMA defer_foreign_keys=OFF;
