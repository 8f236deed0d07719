function cell(value: unknown): string {
  if (value === null || value === undefined) return "-";
  if (value instanceof Date) return value.toISOString().replace(/\.\d{3}Z$/, "Z");
  if (Array.isArray(value)) return value.join(",");
  return String(value);
}

function toJson(value: unknown): string {
  return JSON.stringify(value, (_k, v: unknown) => (typeof v === "bigint" ? v.toString() : v), 2);
}

/** Prints rows as aligned columns, or as JSON with --json (for scripts). */
export function printTable<T extends object>(json: boolean | undefined, rows: T[], columns: (keyof T & string)[]): void {
  if (json) {
    process.stdout.write(`${toJson(rows)}\n`);
    return;
  }
  if (rows.length === 0) {
    process.stdout.write("(none)\n");
    return;
  }
  const table = [columns, ...rows.map((r) => columns.map((c) => cell(r[c])))];
  const widths = columns.map((_, i) => Math.max(...table.map((row) => row[i]!.length)));
  for (const row of table) process.stdout.write(`${row.map((v, i) => v.padEnd(widths[i]!)).join("  ").trimEnd()}\n`);
}

/** Prints one record as "key: value" lines, or as JSON. */
export function printRecords(json: boolean | undefined, record: Record<string, unknown>): void {
  if (json) {
    process.stdout.write(`${toJson(record)}\n`);
    return;
  }
  for (const [key, value] of Object.entries(record)) process.stdout.write(`${key}: ${cell(value)}\n`);
}
