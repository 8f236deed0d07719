"use client";

import { createContext, useContext, type ReactNode } from "react";
import { useLiveSessions, type LiveState } from "./use-live-sessions.ts";

/** What the components of one page share: one WebSocket, however many of them show live figures. */
export interface LiveSessions {
  state: LiveState;
  kick: (sessionId: number) => boolean;
}

export const LiveSessionsContext = createContext<LiveSessions | null>(null);

/** Opens the page's live connection, to the daemon of the POP `pop`, for the components inside it. */
export function LiveSessionsProvider({ pop, children }: { pop: string; children: ReactNode }) {
  return <LiveSessionsContext.Provider value={useLiveSessions(pop)}>{children}</LiveSessionsContext.Provider>;
}

export function useSharedLiveSessions(): LiveSessions {
  const live = useContext(LiveSessionsContext);
  if (!live) throw new Error("a live component must be inside a LiveSessionsProvider");
  return live;
}
