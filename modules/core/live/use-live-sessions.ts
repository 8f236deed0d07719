"use client";

import { useCallback, useEffect, useRef, useState } from "react";
import { applyLiveMessage, reconnectDelayMs, type LiveRow, type LiveServerMessage } from "./lib/rows.ts";

/** Where the web app relays the daemon's live-session WebSocket (server/web/live-proxy.ts). */
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

const INITIAL: LiveState = { status: "connecting", retryAt: null, rows: [], fresh: false, kick: null };

/**
 * The live sessions the signed-in user may see, kept current over the daemon's WebSocket: a fresh
 * token for every connection attempt, reconnection with back-off (1 s doubling to 30 s, with jitter).
 */
export function useLiveSessions(): { state: LiveState; kick: (sessionId: number) => boolean } {
  const [state, setState] = useState<LiveState>(INITIAL);
  const socket = useRef<WebSocket | null>(null);
  const kicking = useRef<number | null>(null);

  useEffect(() => {
    let stopped = false;
    let attempt = 0;
    let timer: ReturnType<typeof setTimeout> | undefined;
    let ws: WebSocket | null = null;

    const retry = () => {
      if (stopped) return;
      const delay = reconnectDelayMs(attempt++);
      setState((s) => ({ ...s, status: "reconnecting", retryAt: Date.now() + delay, fresh: false }));
      timer = setTimeout(() => void connect(), delay);
    };

    const receive = (message: LiveServerMessage) => {
      if (message.type === "snapshot") attempt = 0;
      if (message.type === "ping") ws?.send(JSON.stringify({ type: "pong" }));
      setState((s) => {
        const rows = applyLiveMessage(s.rows, message);
        if (message.type === "snapshot") return { ...s, status: "live", retryAt: null, rows, fresh: true };
        if (message.type === "kicked") {
          kicking.current = null;
          const ended = s.rows.find((r) => r.sessionId === message.sessionId);
          const whose = ended ? `${ended.user}’s session from ${ended.binding?.address ?? ended.clientIpv4}` : "The session";
          return { ...s, rows, kick: { sessionId: message.sessionId, ok: true, message: `${whose} ended.` } };
        }
        if (message.type === "error") {
          const sessionId = kicking.current ?? 0;
          kicking.current = null;
          return { ...s, kick: { sessionId, ok: false, message: `The kick was refused: ${message.message}.` } };
        }
        return rows === s.rows ? s : { ...s, rows };
      });
    };

    const connect = async () => {
      if (stopped) return;
      setState((s) => ({ ...s, status: s.status === "live" ? "reconnecting" : "connecting", retryAt: null }));
      let token: string;
      try {
        const response = await fetch(TOKEN_PATH, { cache: "no-store", credentials: "same-origin" });
        if (response.status === 401) {
          setState((s) => ({ ...s, status: "signed-out", retryAt: null, fresh: false }));
          return;
        }
        if (!response.ok) throw new Error(`HTTP ${response.status}`);
        token = ((await response.json()) as { token: string }).token;
      } catch {
        retry();
        return;
      }
      if (stopped) return;
      const url = `${window.location.protocol === "https:" ? "wss:" : "ws:"}//${window.location.host}${LIVE_PATH}`;
      const current = new WebSocket(url, [PROTOCOL, token]);
      ws = current;
      socket.current = current;
      current.onmessage = (event) => {
        try {
          receive(JSON.parse(String(event.data)) as LiveServerMessage);
        } catch {
          // Not a message of this API: ignored.
        }
      };
      current.onclose = () => {
        if (socket.current === current) socket.current = null;
        if (ws === current) retry();
      };
    };

    void connect();
    return () => {
      stopped = true;
      clearTimeout(timer);
      const last = ws;
      ws = null;
      last?.close();
    };
  }, []);

  const kick = useCallback((sessionId: number) => {
    const ws = socket.current;
    if (!ws || ws.readyState !== WebSocket.OPEN) {
      setState((s) => ({ ...s, kick: { sessionId, ok: false, message: "Not connected to the broker; try again when the view is live." } }));
      return false;
    }
    kicking.current = sessionId;
    ws.send(JSON.stringify({ type: "kick", sessionId }));
    return true;
  }, []);

  return { state, kick };
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
