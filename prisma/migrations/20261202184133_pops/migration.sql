-- CreateTable
CREATE TABLE "Pop" (
    "id" INTEGER NOT NULL PRIMARY KEY AUTOINCREMENT,
    "name" TEXT NOT NULL,
    "publicHost" TEXT,
    "apiUrl" TEXT,
    "heartbeatAt" DATETIME,
    "createdAt" DATETIME NOT NULL DEFAULT CURRENT_TIMESTAMP
);
-- The one POP of a one-box broker: what was there is its.
INSERT INTO "Pop" ("name") VALUES ('default');

-- RedefineTables
PRAGMA defer_foreign_keys=ON;
PRAGMA foreign_keys=OFF;
CREATE TABLE "new_Pool" (
    "id" INTEGER NOT NULL PRIMARY KEY AUTOINCREMENT,
    "cidr" TEXT NOT NULL,
    "purpose" TEXT NOT NULL,
    "prefixLength" INTEGER NOT NULL,
    "autoDelegate" BOOLEAN NOT NULL DEFAULT false,
    "popId" INTEGER NOT NULL,
    "createdAt" DATETIME NOT NULL DEFAULT CURRENT_TIMESTAMP,
    CONSTRAINT "Pool_popId_fkey" FOREIGN KEY ("popId") REFERENCES "Pop" ("id") ON DELETE RESTRICT ON UPDATE CASCADE
);
INSERT INTO "new_Pool" ("autoDelegate", "cidr", "createdAt", "id", "prefixLength", "purpose", "popId") SELECT "autoDelegate", "cidr", "createdAt", "id", "prefixLength", "purpose", (SELECT "id" FROM "Pop" WHERE "name" = 'default') FROM "Pool";
DROP TABLE "Pool";
ALTER TABLE "new_Pool" RENAME TO "Pool";
CREATE UNIQUE INDEX "Pool_cidr_key" ON "Pool"("cidr");
CREATE TABLE "new_Session" (
    "id" INTEGER NOT NULL PRIMARY KEY AUTOINCREMENT,
    "userId" INTEGER,
    "userName" TEXT NOT NULL DEFAULT '',
    "popId" INTEGER,
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
    CONSTRAINT "Session_userId_fkey" FOREIGN KEY ("userId") REFERENCES "User" ("id") ON DELETE SET NULL ON UPDATE CASCADE,
    CONSTRAINT "Session_popId_fkey" FOREIGN KEY ("popId") REFERENCES "Pop" ("id") ON DELETE SET NULL ON UPDATE CASCADE
);
INSERT INTO "new_Session" ("bytesIn", "bytesOut", "clientIpv4", "clientIpv6", "clientUdpPort", "endReason", "endedAt", "id", "packetsIn", "packetsOut", "prefix", "serverIpv4", "serverIpv6", "serverUdpPort", "startedAt", "transport", "type", "userId", "userName", "popId") SELECT "bytesIn", "bytesOut", "clientIpv4", "clientIpv6", "clientUdpPort", "endReason", "endedAt", "id", "packetsIn", "packetsOut", "prefix", "serverIpv4", "serverIpv6", "serverUdpPort", "startedAt", "transport", "type", "userId", "userName", (SELECT "id" FROM "Pop" WHERE "name" = 'default') FROM "Session";
DROP TABLE "Session";
ALTER TABLE "new_Session" RENAME TO "Session";
CREATE INDEX "Session_userId_startedAt_idx" ON "Session"("userId", "startedAt");
CREATE INDEX "Session_userName_startedAt_idx" ON "Session"("userName", "startedAt");
CREATE INDEX "Session_endedAt_idx" ON "Session"("endedAt");
CREATE INDEX "Session_popId_endedAt_idx" ON "Session"("popId", "endedAt");
CREATE TABLE "new_User" (
    "id" INTEGER NOT NULL PRIMARY KEY AUTOINCREMENT,
    "name" TEXT NOT NULL,
    "email" TEXT,
    "role" TEXT NOT NULL DEFAULT 'user',
    "webPasswordHash" TEXT,
    "tunnelPassword" BLOB NOT NULL,
    "disabled" BOOLEAN NOT NULL DEFAULT false,
    "allowedTypes" TEXT NOT NULL DEFAULT 'tunnelonly,host,network',
    "allowedTransports" TEXT NOT NULL DEFAULT 'proto41,udp',
    "mtu" INTEGER NOT NULL DEFAULT 1280,
    "totpSecret" BLOB,
    "totpPendingSecret" BLOB,
    "totpEnabledAt" DATETIME,
    "totpLastStep" INTEGER,
    "popId" INTEGER NOT NULL,
    "createdAt" DATETIME NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "updatedAt" DATETIME NOT NULL,
    CONSTRAINT "User_popId_fkey" FOREIGN KEY ("popId") REFERENCES "Pop" ("id") ON DELETE RESTRICT ON UPDATE CASCADE
);
INSERT INTO "new_User" ("allowedTransports", "allowedTypes", "createdAt", "disabled", "email", "id", "mtu", "name", "role", "totpEnabledAt", "totpLastStep", "totpPendingSecret", "totpSecret", "tunnelPassword", "updatedAt", "webPasswordHash", "popId") SELECT "allowedTransports", "allowedTypes", "createdAt", "disabled", "email", "id", "mtu", "name", "role", "totpEnabledAt", "totpLastStep", "totpPendingSecret", "totpSecret", "tunnelPassword", "updatedAt", "webPasswordHash", (SELECT "id" FROM "Pop" WHERE "name" = 'default') FROM "User";
DROP TABLE "User";
ALTER TABLE "new_User" RENAME TO "User";
CREATE UNIQUE INDEX "User_name_key" ON "User"("name");
PRAGMA foreign_keys=ON;
PRAGMA defer_foreign_keys=OFF;

-- CreateIndex
CREATE UNIQUE INDEX "Pop_name_key" ON "Pop"("name");
