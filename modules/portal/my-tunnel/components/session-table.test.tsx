import assert from "node:assert/strict";
import { test } from "node:test";
import { renderToStaticMarkup } from "react-dom/server";
import { LiveSessionsContext, type LiveSessions } from "../../../core/live/live-sessions-context.tsx";
import type { LiveRow } from "../../../core/live/lib/rows.ts";
import { SessionTable, type SessionRow } from "./session-table.tsx";

const stored = (over: Partial<SessionRow> & Pick<SessionRow, "id">): SessionRow => ({
  type: "host",
  transport: "udp",
  clientIpv4: "192.0.2.10",
  startedAt: new Date("2026-12-01T10:00:00Z"),
  endedAt: null,
  endReason: null,
  bytesIn: 0n,
  bytesOut: 0n,
  ...over,
});

const live = (rows: Partial<LiveRow>[]): LiveSessions => ({
  state: { status: "live", retryAt: null, rows: rows as LiveRow[], fresh: true, kick: null },
  kick: () => false,
});

test("a live session's row shows the live counters, an ended one its stored figures", () => {
  const rows = [
    stored({ id: 7 }),
    stored({ id: 3, endedAt: new Date("2026-12-01T09:00:00Z"), endReason: "closed", bytesIn: 2_000n, bytesOut: 9_000n }),
  ];
  const html = renderToStaticMarkup(
    <LiveSessionsContext.Provider value={live([{ sessionId: 7, bytesIn: 376_000, bytesOut: 1_500_000 }, { sessionId: 3, bytesIn: 1, bytesOut: 1 }])}>
      <SessionTable rows={rows} />
    </LiveSessionsContext.Provider>,
  );
  const cells = [...html.matchAll(/<td class="num">(?:<span data-live-bytes="\w+">)?([^<]+)/g)].map((m) => m[1]);
  // Columns: received (the session's bytesOut), sent (its bytesIn).
  assert.deepEqual(cells, ["1.50 MB", "376 kB", "9.00 kB", "2.00 kB"]);
});

test("a live session the live view does not list (yet) shows what is stored", () => {
  const html = renderToStaticMarkup(
    <LiveSessionsContext.Provider value={live([])}>
      <SessionTable rows={[stored({ id: 7, bytesIn: 5_000n, bytesOut: 6_000n })]} />
    </LiveSessionsContext.Provider>,
  );
  assert.match(html, /<span data-live-bytes="bytesIn">5.00 kB<\/span>/);
  assert.match(html, /<span data-live-bytes="bytesOut">6.00 kB<\/span>/);
});
