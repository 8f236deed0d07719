"use client";

import { useState } from "react";
import { LiveStatusBadge } from "../../../core/live/components/live-status.tsx";
import { capitalised, DIRECTION, formatAgo, formatBytes, formatCount, formatRate, formatUtc, transportName } from "../../../core/lib/format.ts";
import { claimedAddress, seenAddress } from "../../../core/live/lib/rows.ts";
import { INITIAL_LIVE_STATE, useLiveSessionsOfPops, useNow, type PopLiveRow } from "../../../core/live/use-live-sessions.ts";

/** Every live session of every POP, updated as their daemons report changes, with a kick for each. */
export function LiveSessionTable({ pops }: { pops: readonly string[] }) {
  const { states, rows, kick } = useLiveSessionsOfPops(pops);
  const now = useNow();
  const [asking, setAsking] = useState<number | null>(null);
  // The POP of the last kick, whose answer is shown.
  const [kickedAt, setKickedAt] = useState<string | null>(null);
  const several = pops.length > 1;
  const stateOf = (pop: string) => states[pop] ?? INITIAL_LIVE_STATE;
  const allLive = pops.every((p) => stateOf(p).status === "live");
  const kicked = kickedAt === null ? null : stateOf(kickedAt).kick;
  return (
    <>
      {several ? (
        <ul className="pop-statuses" aria-label="POPs">
          {pops.map((pop) => (
            <li key={pop} data-pop={pop}>
              <strong>{pop}</strong> <LiveStatusBadge state={stateOf(pop)} now={now} />
            </li>
          ))}
        </ul>
      ) : (
        <LiveStatusBadge state={stateOf(pops[0] ?? "")} now={now} />
      )}
      {kicked ? (
        <div className={kicked.ok ? "notice notice-ok" : "notice notice-error"} role="alert" data-kick-result>
          <p>{kicked.message}</p>
        </div>
      ) : null}
      {rows.length === 0 ? (
        <p className="empty">{allLive ? "No live sessions right now." : "No live sessions known yet."}</p>
      ) : (
        <div className="table-wrap">
          <table aria-label="Live sessions">
            <thead>
              <tr>
                <th>User</th>
                {several ? <th>POP</th> : null}
                <th className="optional">Type</th>
                <th className="optional">Transport</th>
                <th>Client (as seen)</th>
                <th className="optional">Since</th>
                <th className="optional">Last packet</th>
                <th className="num optional">{capitalised(DIRECTION.in.admin)}</th>
                <th className="num optional">{capitalised(DIRECTION.out.admin)}</th>
                <th>
                  <span className="visually-hidden">Actions</span>
                </th>
              </tr>
            </thead>
            <tbody>
              {rows.map((row) => (
                <SessionRow
                  key={row.sessionId}
                  row={row}
                  fresh={stateOf(row.pop).fresh}
                  showPop={several}
                  now={now}
                  asking={asking === row.sessionId}
                  onAsk={() => setAsking(row.sessionId)}
                  onCancel={() => setAsking(null)}
                  onKick={() => {
                    setAsking(null);
                    setKickedAt(row.pop);
                    kick(row.pop, row.sessionId);
                  }}
                />
              ))}
            </tbody>
          </table>
        </div>
      )}
    </>
  );
}

interface SessionRowProps {
  row: PopLiveRow;
  /** Whether the row's POP is connected now (else these are its last known figures). */
  fresh: boolean;
  showPop: boolean;
  now: number;
  asking: boolean;
  onAsk: () => void;
  onCancel: () => void;
  onKick: () => void;
}

function SessionRow({ row, fresh, showPop, now, asking, onAsk, onCancel, onKick }: SessionRowProps) {
  const main = (
    <tr data-session-id={row.sessionId} data-user={row.user} data-pop={row.pop} className={fresh ? undefined : "stale"}>
      <td>
        <a href={`/admin/users/${encodeURIComponent(row.user)}`}>{row.user}</a>
      </td>
      {showPop ? <td>{row.pop}</td> : null}
      <td className="optional">
        {row.type}
        {row.prefix ? <div className="hint">{row.prefix}</div> : null}
        {row.clientIpv6 ? <div className="hint">{row.clientIpv6}</div> : null}
      </td>
      <td className="optional">{row.transport === "udp" ? `UDP${row.serverUdpPort ? ` :${row.serverUdpPort}` : ""}` : transportName(row.transport)}</td>
      <td className="nowrap">
        <code data-field="address">{seenAddress(row)}</code>
        {row.bindingDiffers ? (
          <span className="badge badge-warn" title={`The client said ${claimedAddress(row)}: a NAT is in between`} data-nat>
            NAT
          </span>
        ) : null}
        {row.bindingDiffers ? <div className="hint">claimed {claimedAddress(row)}</div> : null}
        {row.transport === "udp" && row.binding === null ? <div className="hint">no packet yet</div> : null}
      </td>
      <td className="nowrap optional" title={formatUtc(row.startedAt)}>
        {formatAgo(row.startedAt, now)}
      </td>
      <td className="nowrap optional" title={row.lastPacketAt === null ? undefined : formatUtc(row.lastPacketAt)}>
        {row.lastPacketAt === null ? "none yet" : formatAgo(row.lastPacketAt, now)}
      </td>
      <td className="num nowrap optional">
        {formatBytes(row.bytesIn)}
        <div className="hint">{formatCount(row.packetsIn)} packets</div>
        <div className="hint">{formatRate(row.rateIn)}</div>
      </td>
      <td className="num nowrap optional">
        {formatBytes(row.bytesOut)}
        <div className="hint">{formatCount(row.packetsOut)} packets</div>
        <div className="hint">{formatRate(row.rateOut)}</div>
      </td>
      <td className="nowrap">
        <button type="button" className="button button-danger-quiet button-small" onClick={onAsk} disabled={asking} aria-expanded={asking}>
          Kick
        </button>
      </td>
    </tr>
  );
  // The question gets a row of its own across the whole table, so no width of the table clips it.
  return asking ? (
    <>
      {main}
      <tr className="confirm-row">
        <td colSpan={showPop ? 10 : 9}>
          <span className="confirm" role="group" aria-label="Confirm">
            <span className="confirm-question">End {row.user}’s session from {seenAddress(row)}?</span>
            <button type="button" className="button button-danger button-small" onClick={onKick}>
              Yes, kick
            </button>
            <button type="button" className="button button-quiet button-small" onClick={onCancel}>
              Cancel
            </button>
          </span>
        </td>
      </tr>
    </>
  ) : (
    main
  );
}
