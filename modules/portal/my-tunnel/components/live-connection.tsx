"use client";

import { LiveStatusBadge } from "../../../core/live/components/live-status.tsx";
import { DIRECTION, formatAgo, formatBytes, formatRate, formatUtc, transportName } from "../../../core/lib/format.ts";
import { claimedAddress, seenAddress } from "../../../core/live/lib/rows.ts";
import { useSharedLiveSessions } from "../../../core/live/live-sessions-context.tsx";
import { useNow } from "../../../core/live/use-live-sessions.ts";

/** Whether my tunnel is up right now, live: the daemon shows a user their own sessions only. */
export function LiveConnection() {
  const { state } = useSharedLiveSessions();
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
                <span className="badge">Connected now</span> {row.type} over {transportName(row.transport)}
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
                <dt>Rate</dt>
                <dd>
                  {formatRate(row.rateOut)} {DIRECTION.out.user}, {formatRate(row.rateIn)} {DIRECTION.in.user}
                </dd>
                <dt>This session</dt>
                <dd>
                  {formatBytes(row.bytesOut)} {DIRECTION.out.user}, {formatBytes(row.bytesIn)} {DIRECTION.in.user}
                </dd>
              </dl>
            </div>
          ))
        )
      ) : null}
    </div>
  );
}
