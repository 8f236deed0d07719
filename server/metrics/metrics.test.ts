import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { CONTENT_TYPE, formatExposition, type MetricFamily } from "./exposition.ts";
import { startMetricsServer, type MetricsServer } from "./server.ts";

describe("formatExposition", () => {
  test("HELP, TYPE and samples with escaped labels", () => {
    const text = formatExposition([
      {
        name: "dtcp_session_bytes_total",
        help: "Bytes of a session.\nIn means from the client \\ to the TUN.",
        type: "counter",
        samples: [
          { labels: { session: "12", user: 'a"b\\c\nd' }, value: 10n ** 20n },
          { labels: {}, value: 1.5 },
        ],
      },
      { name: "dtcp_empty", help: "nothing yet", type: "gauge", samples: [] },
      { name: "dtcp_odd", help: "values", type: "gauge", samples: [{ value: NaN }, { value: Infinity }, { value: -Infinity }] },
    ]);
    assert.equal(
      text,
      [
        "# HELP dtcp_session_bytes_total Bytes of a session.\\nIn means from the client \\\\ to the TUN.",
        "# TYPE dtcp_session_bytes_total counter",
        'dtcp_session_bytes_total{session="12",user="a\\"b\\\\c\\nd"} 100000000000000000000',
        "dtcp_session_bytes_total 1.5",
        "# HELP dtcp_empty nothing yet",
        "# TYPE dtcp_empty gauge",
        "# HELP dtcp_odd values",
        "# TYPE dtcp_odd gauge",
        "dtcp_odd NaN",
        "dtcp_odd +Inf",
        "dtcp_odd -Inf",
        "",
      ].join("\n"),
    );
    assert.equal(formatExposition([]), "");
  });

  test("invalid metric or label names are refused", () => {
    assert.throws(() => formatExposition([{ name: "bad-name", help: "", type: "gauge", samples: [] }]), /metric name/);
    assert.throws(() => formatExposition([{ name: "ok", help: "", type: "gauge", samples: [{ labels: { "1x": "" }, value: 1 }] }]), /label name/);
  });
});

describe("startMetricsServer", () => {
  let server: MetricsServer;
  let families: MetricFamily[] = [];
  let fail = false;
  before(async () => {
    server = await startMetricsServer({ host: "127.0.0.1", port: 0 }, [
      { collectMetrics: () => families },
      {
        collectMetrics: () => {
          if (fail) throw new Error("source broke");
          return [{ name: "dtcp_up", help: "1", type: "gauge", samples: [{ value: 1 }] }];
        },
      },
    ]);
  });
  after(() => server.close());
  const url = (path: string): string => `http://127.0.0.1:${server.address.port}${path}`;

  test("GET /metrics gives every source's figures of the moment, as text 0.0.4", async () => {
    families = [{ name: "dtcp_x_total", help: "x", type: "counter", samples: [{ value: 3 }] }];
    let res = await fetch(url("/metrics"));
    assert.equal(res.status, 200);
    assert.equal(res.headers.get("content-type"), CONTENT_TYPE);
    assert.equal(await res.text(), "# HELP dtcp_x_total x\n# TYPE dtcp_x_total counter\ndtcp_x_total 3\n# HELP dtcp_up 1\n# TYPE dtcp_up gauge\ndtcp_up 1\n");
    families = [];
    res = await fetch(url("/metrics?x=1"));
    assert.equal(await res.text(), "# HELP dtcp_up 1\n# TYPE dtcp_up gauge\ndtcp_up 1\n");
  });

  test("other paths, other methods and a failing source", async () => {
    assert.equal((await fetch(url("/"))).status, 404);
    const post = await fetch(url("/metrics"), { method: "POST" });
    assert.equal(post.status, 405);
    assert.equal(post.headers.get("allow"), "GET, HEAD");
    const head = await fetch(url("/metrics"), { method: "HEAD" });
    assert.equal(head.status, 200);
    fail = true;
    const broken = await fetch(url("/metrics"));
    assert.equal(broken.status, 500);
    assert.match(await broken.text(), /source broke/);
    fail = false;
  });

  test("a busy port is reported by the start", async () => {
    await assert.rejects(startMetricsServer({ host: "127.0.0.1", port: server.address.port }, []), { code: "EADDRINUSE" });
  });
});

test("/metrics on a public address gives one address 16 waiting connections, and a scrape still gets through", async () => {
  const { connect } = await import("node:net");
  const warnings: string[] = [];
  const server = await startMetricsServer({ host: "127.0.0.1", port: 0 }, [], {}, (m) => warnings.push(m));
  const silent = Array.from({ length: 20 }, () => {
    const s = connect({ host: "127.0.0.1", port: server.address.port, localAddress: "127.0.3.1" });
    s.on("error", () => {});
    return s;
  });
  const closed = () => silent.filter((s) => s.destroyed || s.readableEnded).length;
  try {
    for (const until = Date.now() + 10_000; closed() < 4; await new Promise((r) => setTimeout(r, 20))) {
      if (Date.now() > until) assert.fail(`${closed()} of 20 silent connections closed`);
    }
    assert.equal(closed(), 4, "past 16 from one address, refused");
    assert.match(warnings.join("\n"), /metrics: refusing connections from 127\.0\.3\.1/);
    const res = await fetch(`http://127.0.0.1:${server.address.port}/metrics`);
    assert.equal(res.status, 200);
  } finally {
    for (const s of silent) s.destroy();
    await server.close();
  }
});
