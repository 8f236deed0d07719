"use client";

import { useCallback, useEffect, useRef, useState } from "react";
import { applyLiveMessage, reconnectDelayMs, type LiveRow, type LiveServerMessage } from "./lib/rows.ts";

/** Where the web app relays a daemon's live-session WebSocket (server/web/live-proxy.ts). */
const LIVE_PATH = "/api/live";
const TOKEN_PATH = "/api/live-token";
const PROTOCOL = "dtcp-live";

export type LiveStatus = "connecting" | "live" | "reconnecting" | "signed-out";

export interface LiveState {
  status: LiveStatus;
  /** With "reconnecting": when the next attempt starts (epoch ms). */
  retryAt: number | null;
  rows: readonly LiveRow[];
  /** Whether the rows come from the current connection (false: the last known ones, while reconnecting). */
  fresh: boolean;
  /** The outcome of the last kick. */
  kick: { sessionId: number; ok: boolean; message: string } | null;
}

export const INITIAL_LIVE_STATE: LiveState = { status: "connecting", retryAt: null, rows: [], fresh: false, kick: null };

type Update = (change: (state: LiveState) => LiveState) => void;

interface Feed {
  kick(sessionId: number): boolean;
  stop(): void;
}

/**
 * One POP's live sessions, kept current over
 * its WebSocket: a fresh token for every connection attempt, reconnection with back-off (1 s
 * doubling to 30 s, with jitter).
 */
function openFeed(pop: string, update: Update): Feed {
  let stopped = false;
  let attempt = 0;
  let timer: ReturnType<typeof setTimeout> | undefined;
  let ws: WebSocket | null = null;
  let kicking: number | null = null;
  /** The row being kicked, as last seen: the diff that removes it may come before the daemon's answer. */
  let kickedRow: LiveRow | null = null;

  const retry = () => {
    if (stopped) return;
    const delay = reconnectDelayMs(attempt++);
    update((s) => ({ ...s, status: "reconnecting", retryAt: Date.now() + delay, fresh: false }));
    timer = setTimeout(() => void connect(), delay);
  };

  const receive = (message: LiveServerMessage) => {
    if (message.type === "snapshot") attempt = 0;
    if (message.type === "ping") ws?.send(JSON.stringify({ type: "pong" }));
    update((s) => {
      if (kicking !== null) kickedRow = s.rows.find((r) => r.sessionId === kicking) ?? kickedRow;
      const rows = applyLiveMessage(s.rows, message);
      if (message.type === "snapshot") return { ...s, status: "live", retryAt: null, rows, fresh: true };
      if (message.type === "kicked") {
        kicking = null;
        const ended = s.rows.find((r) => r.sessionId === message.sessionId) ?? (kickedRow?.sessionId === message.sessionId ? kickedRow : null);
        kickedRow = null;
        const whose = ended ? `${ended.user}’s session from ${ended.binding?.address ?? ended.clientIpv4}` : "The session";
        return { ...s, rows, kick: { sessionId: message.sessionId, ok: true, message: `${whose} ended.` } };
      }
      if (message.type === "error") {
        const sessionId = kicking ?? 0;
        kicking = null;
        kickedRow = null;
        return { ...s, kick: { sessionId, ok: false, message: `The kick was refused: ${message.message}.` } };
      }
      return rows === s.rows ? s : { ...s, rows };
    });
  };

  const connect = async () => {
    if (stopped) return;
    update((s) => ({ ...s, status: s.status === "live" ? "reconnecting" : "connecting", retryAt: null }));
    let token: string;
    try {
      const response = await fetch(`${TOKEN_PATH}?pop=${encodeURIComponent(pop)}`, { cache: "no-store", credentials: "same-origin" });
      if (response.status === 401) {
        update((s) => ({ ...s, status: "signed-out", retryAt: null, fresh: false }));
        return;
      }
      if (!response.ok) throw new Error(`HTTP ${response.status}`);
      token = ((await response.json()) as { token: string }).token;
    } catch {
      retry();
      return;
    }
    if (stopped) return;
    const current = new WebSocket(`${window.location.protocol === "https:" ? "wss:" : "ws:"}//${window.location.host}${LIVE_PATH}?pop=${encodeURIComponent(pop)}`, [PROTOCOL, token]);
    ws = current;
    current.onmessage = (event) => {
      try {
        receive(JSON.parse(String(event.data)) as LiveServerMessage);
      } catch {
        // Not a message of this API: ignored.
      }
    };
    current.onclose = () => {
      if (ws === current) {
        ws = null;
        retry();
      }
    };
  };

  void connect();
  return {
    kick(sessionId) {
      if (!ws || ws.readyState !== WebSocket.OPEN) {
        update((s) => ({ ...s, kick: { sessionId, ok: false, message: "Not connected to that POP; try again when its view is live." } }));
        return false;
      }
      kicking = sessionId;
      ws.send(JSON.stringify({ type: "kick", sessionId }));
      return true;
    },
    stop() {
      stopped = true;
      clearTimeout(timer);
      const last = ws;
      ws = null;
      last?.close();
    },
  };
}

/** The live sessions the signed-in user may see on one POP's daemon. */
export function useLiveSessions(pop: string): { state: LiveState; kick: (sessionId: number) => boolean } {
  const [state, setState] = useState<LiveState>(INITIAL_LIVE_STATE);
  const feed = useRef<Feed | null>(null);
  useEffect(() => {
    const opened = openFeed(pop, setState);
    feed.current = opened;
    return () => {
      opened.stop();
      if (feed.current === opened) feed.current = null;
    };
  }, [pop]);
  const kick = useCallback((sessionId: number) => feed.current?.kick(sessionId) ?? false, []);
  return { state, kick };
}

/** A live row with the POP it came from. */
export type PopLiveRow = LiveRow & { pop: string };

/**
 * The live sessions of several POPs at once, one connection each: one POP down leaves the others
 * live. `states` has each POP's own status; `rows` merges them (session ids are the database's, so unique).
 */
export function useLiveSessionsOfPops(pops: readonly string[]): {
  states: Readonly<Record<string, LiveState>>;
  rows: readonly PopLiveRow[];
  kick: (pop: string, sessionId: number) => boolean;
} {
  const [states, setStates] = useState<Readonly<Record<string, LiveState>>>({});
  const feeds = useRef(new Map<string, Feed>());
  const key = pops.join("\n");
  useEffect(() => {
    const opened = new Map<string, Feed>();
    for (const pop of key.split("\n").filter((p) => p !== "")) {
      opened.set(
        pop,
        openFeed(pop, (change) => setStates((all) => ({ ...all, [pop]: change(all[pop] ?? INITIAL_LIVE_STATE) }))),
      );
    }
    feeds.current = opened;
    return () => {
      for (const feed of opened.values()) feed.stop();
    };
  }, [key]);
  const rows = pops
    .flatMap((pop) => (states[pop]?.rows ?? []).map((row) => ({ ...row, pop })))
    .sort((a, b) => a.sessionId - b.sessionId);
  const kick = useCallback((pop: string, sessionId: number) => feeds.current.get(pop)?.kick(sessionId) ?? false, []);
  return { states, rows, kick };
}

/** The current time, updated every `everyMs`: for relative times and count-downs. */
export function useNow(everyMs = 1000): number {
  const [now, setNow] = useState(() => Date.now());
  useEffect(() => {
    const timer = setInterval(() => setNow(Date.now()), everyMs);
    return () => clearInterval(timer);
  }, [everyMs]);
  return now;
}
