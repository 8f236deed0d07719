// Preloaded into the daemon by `BENCH_SQL_COUNT=1 npm run bench:control` (node --require):
// counts the SQL statements better-sqlite3 prepares and how many rows each batch statement carried,
// and writes the tally to $BENCH_SQL_COUNT_FILE when the process exits.
"use strict";
const { writeFileSync } = require("node:fs");
const Database = require("better-sqlite3");
const tally = new Map();
const prepare = Database.prototype.prepare;
Database.prototype.prepare = function (sql) {
  const key = String(sql)
    .replace(/\s+/g, " ")
    .replace(/(\?,? ?)+/g, "?…")
    .replace(/\(\?…\)(, \(\?…\))+/g, "(?…), …")
    .slice(0, 110);
  const params = (String(sql).match(/\?/g) || []).length;
  const t = tally.get(key) || { count: 0, params: 0 };
  t.count++;
  t.params += params;
  tally.set(key, t);
  return prepare.call(this, sql);
};
process.on("exit", () => {
  const rows = [...tally].sort((a, b) => b[1].count - a[1].count);
  const text = rows.map(([k, t]) => `${String(t.count).padStart(8)} × (avg ${(t.params / t.count).toFixed(1).padStart(6)} params)  ${k}`).join("\n");
  if (process.env.BENCH_SQL_COUNT_FILE) writeFileSync(process.env.BENCH_SQL_COUNT_FILE, text + "\n");
});
