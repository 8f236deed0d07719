import assert from "node:assert/strict";
import { resolve } from "node:path";
import { test } from "node:test";
import { DatabaseUrlError, parseDatabaseUrl } from "./database-url.ts";

test("file: is SQLite (relative paths from the working directory), postgres:// and postgresql:// PostgreSQL", () => {
  assert.deepEqual(parseDatabaseUrl("file:./data/broker.db"), { engine: "sqlite", file: resolve("data/broker.db") });
  assert.deepEqual(parseDatabaseUrl("file:/var/lib/dtcp/broker.db?connection_limit=1"), { engine: "sqlite", file: "/var/lib/dtcp/broker.db" });
  for (const url of ["postgres://dtcp@db.example/broker", "postgresql://dtcp:pw@127.0.0.1:5432/broker?sslmode=require", "POSTGRESQL://x/y"]) {
    assert.deepEqual(parseDatabaseUrl(url), { engine: "postgresql", url });
  }
});

test("anything else is one line naming the accepted schemes", () => {
  assert.throws(() => parseDatabaseUrl("mysql://x/y"), (err: Error) => err instanceof DatabaseUrlError && err.message === 'DATABASE_URL must start with file: (SQLite) or postgresql:// (PostgreSQL); got "mysql:".');
  assert.throws(() => parseDatabaseUrl("./broker.db"), /must start with file: \(SQLite\) or postgresql:\/\/ \(PostgreSQL\); got "\.\/broker\.db"/);
  assert.throws(() => parseDatabaseUrl("file:"), /names no file/);
});
