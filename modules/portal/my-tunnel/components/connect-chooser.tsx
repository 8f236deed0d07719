"use client";

import { useState } from "react";
import { Empty } from "../../../core/components/empty.tsx";
import {
  CLIENT_PACKAGE_PATH,
  CLIENT_PROGRAMS,
  NETWORK_LABELS,
  TRANSPORT_LABELS,
  defaultChoice,
  options,
  recommend,
  settle,
  type Choice,
  type ClientSetup,
  type NetworkSituation,
} from "../lib/commands.ts";

/** A few questions about the user's machine and network, and the one way to connect that fits. */
export function ConnectChooser({ setup }: { setup: ClientSetup }) {
  const [picked, setPicked] = useState<Choice | null>(() => defaultChoice(setup));
  const choice = picked && settle(setup, picked);
  if (!choice) return <Empty>No tunnel type or transport is allowed to you; ask an administrator.</Empty>;
  const { clients, types, transports } = options(setup);
  const { steps, notes } = recommend(setup, choice);
  const change = (field: keyof Choice) => (e: React.ChangeEvent<HTMLSelectElement>) => setPicked({ ...choice, [field]: e.target.value });
  return (
    <div className="chooser" data-connect-chooser>
      <div className="chooser-questions">
        <label>
          Your computer runs
          <select value={choice.client} onChange={change("client")}>
            {clients.map((c) => (
              <option key={c} value={c}>
                {CLIENT_PROGRAMS[c].label}
              </option>
            ))}
          </select>
        </label>
        <label>
          Tunnel type
          <select value={choice.type} onChange={change("type")}>
            {types.map((t) => (
              <option key={t} value={t}>
                {t}
              </option>
            ))}
          </select>
        </label>
        <label>
          Carried over
          <select value={choice.transport} onChange={change("transport")}>
            {transports(choice.client).map((t) => (
              <option key={t} value={t}>
                {TRANSPORT_LABELS[t]}
              </option>
            ))}
          </select>
        </label>
        <label>
          Your network
          <select value={choice.network} onChange={change("network")}>
            {(Object.keys(NETWORK_LABELS) as NetworkSituation[]).map((n) => (
              <option key={n} value={n}>
                {NETWORK_LABELS[n]}
              </option>
            ))}
          </select>
        </label>
      </div>
      {choice.client === "linux" ? (
        <p className="actions">
          <a className="button button-quiet" href={CLIENT_PACKAGE_PATH} download>
            Download dtcpc.tgz (the Linux client)
          </a>
        </p>
      ) : null}
      <ol className="steps">
        {steps.map((step) => (
          <li key={step.text}>
            {step.text}
            {step.command ? <pre data-command>{step.command}</pre> : null}
          </li>
        ))}
      </ol>
      {notes.map((note) => (
        <p key={note} className="hint">
          {note}
        </p>
      ))}
    </div>
  );
}
