import assert from "node:assert/strict";
import { test } from "node:test";
import { formatExposition } from "../metrics/exposition.ts";
import {
  BLOCK_COUNTERS,
  BLOCK_SESSIONS,
  DROP_MALFORMED,
  KEEPALIVES,
  LAST_PACKET_AT,
  MULTICAST,
  newSessionCounters,
  NO_ROUTE,
  PACKETS_IN,
  PACKETS_OUT,
  TOTAL_FIELDS,
  transportBlock,
} from "./counters.ts";
import { dataPlaneMetrics } from "./metrics.ts";

test("daemon-wide families per transport and uncharged drops, per-session series labelled by id and user", () => {
  const totals = new Float64Array(TOTAL_FIELDS);
  totals[transportBlock("udp") + BLOCK_SESSIONS] = 1;
  totals[transportBlock("udp") + BLOCK_COUNTERS + PACKETS_IN] = 10;
  totals[transportBlock("proto41") + BLOCK_COUNTERS + DROP_MALFORMED] = 2;
  totals[NO_ROUTE] = 5;
  totals[KEEPALIVES] = 6;
  totals[MULTICAST] = 3;
  const seen = newSessionCounters();
  seen[PACKETS_IN] = 10;
  seen[LAST_PACKET_AT] = 1_700_000_000_500;
  // Two packet workers: the first has the UDP session, the second two protocol-41 ones.
  const second = new Float64Array(TOTAL_FIELDS);
  second[transportBlock("proto41") + BLOCK_SESSIONS] = 2;
  second[transportBlock("proto41") + BLOCK_COUNTERS + PACKETS_OUT] = 4;
  second[transportBlock("udp") + BLOCK_COUNTERS + PACKETS_OUT] = 1;
  const text = formatExposition(
    dataPlaneMetrics(
      totals,
      [
        { sessionId: 7, userName: "alice", counters: seen },
        { sessionId: 8, userName: "bob", counters: newSessionCounters() },
      ],
      [totals, second],
    ),
  );
  const lines = text.split("\n");
  for (const expected of [
    'dtcp_dataplane_sessions{transport="proto41"} 0',
    'dtcp_dataplane_sessions{transport="udp"} 1',
    'dtcp_dataplane_packets_total{transport="udp",direction="in"} 10',
    'dtcp_dataplane_bytes_total{transport="udp",direction="out"} 0',
    'dtcp_dataplane_drops_total{transport="proto41",reason="malformed"} 2',
    'dtcp_dataplane_uncharged_drops_total{reason="noRoute"} 5',
    "dtcp_dataplane_keepalives_total 6",
    "dtcp_dataplane_host_multicast_total 3",
    'dtcp_dataplane_worker_sessions{worker="0"} 1',
    'dtcp_dataplane_worker_sessions{worker="1"} 2',
    'dtcp_dataplane_worker_packets_total{worker="0",direction="in"} 10',
    'dtcp_dataplane_worker_packets_total{worker="1",direction="out"} 5',
    'dtcp_session_packets_total{session="7",user="alice",direction="in"} 10',
    'dtcp_session_drops_total{session="8",user="bob",reason="sendFailed"} 0',
    'dtcp_session_last_packet_timestamp_seconds{session="7",user="alice"} 1700000000.5',
  ]) {
    assert.ok(lines.includes(expected), `missing: ${expected}`);
  }
  assert.ok(!text.includes('last_packet_timestamp_seconds{session="8"'), "no timestamp before the first packet");
  // 2 directions × (packets + bytes) + 5 drop reasons + 1 timestamp = 10 series for a session that has sent.
  assert.equal(lines.filter((l) => l.includes('session="7"')).length, 10);
});
