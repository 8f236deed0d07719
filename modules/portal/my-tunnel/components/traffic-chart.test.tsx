import assert from "node:assert/strict";
import { test } from "node:test";
import { renderToStaticMarkup } from "react-dom/server";
import { TrafficChart } from "./traffic-chart.tsx";

test("the user's uploads (the session's bytesIn) are drawn and labelled as sent, downloads as received", () => {
  const start = new Date("2026-11-29T12:00:00Z");
  const html = renderToStaticMarkup(<TrafficChart buckets={[{ start, bytesIn: 5_000_000, bytesOut: 1_000 }]} />);
  assert.match(html, /class="bar-sent" data-bytes="5000000"/);
  assert.match(html, /class="bar-received" data-bytes="1000"/);
  assert.match(html, /<title>12:00 UTC: 1.00 kB received, 5.00 MB sent<\/title>/);
  assert.match(html, /<i class="swatch-sent"><\/i>sent \(from you\)/);
  assert.match(html, /<i class="swatch-received"><\/i>received \(to you\)/);
});
