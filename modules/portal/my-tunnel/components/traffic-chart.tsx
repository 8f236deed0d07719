import { DIRECTION, formatBytes } from "../../../core/lib/format.ts";
import type { HourBucket } from "../lib/traffic.ts";

const WIDTH = 720;
const HEIGHT = 180;
const LEFT = 56;
const BOTTOM = 20;

/** Bytes sent and received by the user per hour as paired bars; drawn on the server, no script. */
export function TrafficChart({ buckets }: { buckets: HourBucket[] }) {
  const max = Math.max(1, ...buckets.flatMap((b) => [b.bytesIn, b.bytesOut]));
  const plotHeight = HEIGHT - BOTTOM - 8;
  const slot = (WIDTH - LEFT) / buckets.length;
  const bar = Math.max(2, slot / 2 - 2);
  const y = (v: number) => HEIGHT - BOTTOM - (v / max) * plotHeight;
  const total = buckets.reduce((sum, b) => sum + b.bytesIn + b.bytesOut, 0);
  return (
    <figure style={{ margin: 0 }}>
      <svg className="chart" viewBox={`0 0 ${WIDTH} ${HEIGHT}`} role="img" aria-label={`Traffic over the last 24 hours: ${formatBytes(total)} in total`}>
        <line x1={LEFT} x2={WIDTH} y1={HEIGHT - BOTTOM} y2={HEIGHT - BOTTOM} stroke="#dde1e7" />
        <text x={LEFT - 6} y={y(max) + 4} textAnchor="end">
          {formatBytes(max)}
        </text>
        <text x={LEFT - 6} y={HEIGHT - BOTTOM} textAnchor="end">
          0
        </text>
        {buckets.map((b, i) => {
          const x = LEFT + i * slot + 1;
          return (
            <g key={b.start.toISOString()}>
              <title>{`${b.start.toISOString().slice(11, 16)} UTC: ${formatBytes(b.bytesOut)} ${DIRECTION.out.user}, ${formatBytes(b.bytesIn)} ${DIRECTION.in.user}`}</title>
              <rect className="bar-received" data-bytes={b.bytesOut} x={x} y={y(b.bytesOut)} width={bar} height={HEIGHT - BOTTOM - y(b.bytesOut)} />
              <rect className="bar-sent" data-bytes={b.bytesIn} x={x + bar + 1} y={y(b.bytesIn)} width={bar} height={HEIGHT - BOTTOM - y(b.bytesIn)} />
              {i % 3 === 0 ? (
                <text x={x} y={HEIGHT - 6}>
                  {b.start.toISOString().slice(11, 13)}h
                </text>
              ) : null}
            </g>
          );
        })}
      </svg>
      <figcaption className="legend">
        <span>
          <i className="swatch-received" />
          {DIRECTION.out.user} (to you)
        </span>
        <span>
          <i className="swatch-sent" />
          {DIRECTION.in.user} (from you)
        </span>
        <span>hours in UTC; {formatBytes(total)} in total</span>
      </figcaption>
    </figure>
  );
}
