"use client";

import { LiveStatusBadge } from "../../../core/live/components/live-status.tsx";
import { formatAgo, formatBytes, formatRate, formatUtc } from "../../../core/live/lib/format.ts";
import { claimedAddress, seenAddress } from "../../../core/live/lib/rows.ts";
import { useLiveSessions, useNow } from "../../../core/live/use-live-sessions.ts";

/** Whether my tunnel is up right now, live: the daemon shows a user their own sessions only. */
export function LiveConnection() {
  const { state } = useLiveSessions();
  const now = useNow();
  const rows = state.rows;
  return (
    <div data-live-connection>
      <LiveStatusBadge state={state} now={now} />
      {state.status === "live" || rows.length > 0 ? (
        rows.length === 0 ? (
          <p className="live-now" data-connected="no">
            Not connected now.
          </p>
        ) : (
          rows.map((row) => (
            <div key={row.sessionId} className={state.fresh ? undefined : "stale"} data-connected="yes">
              <p className="live-now">
                <span className="badge">Connected now</span> {row.type} over {row.transport === "udp" ? "UDP" : "protocol 41"}
              </p>
              <dl className="facts">
                <dt>My address, as the broker sees it</dt>
                <dd>
                  <code data-field="address">{seenAddress(row)}</code>
                  {row.bindingDiffers ? (
                    <span className="badge badge-warn" title={`Your client said ${claimedAddress(row)}`}>
                      NAT
                    </span>
                  ) : null}
                </dd>
                <dt>Since</dt>
                <dd title={formatUtc(row.startedAt)}>{formatAgo(row.startedAt, now)}</dd>
                <dt>Rate in / out</dt>
                <dd>
                  {formatRate(row.rateIn)} / {formatRate(row.rateOut)}
                </dd>
                <dt>This session</dt>
                <dd>
                  {formatBytes(row.bytesIn)} in, {formatBytes(row.bytesOut)} out
                </dd>
              </dl>
            </div>
          ))
        )
      ) : null}
    </div>
  );
}
