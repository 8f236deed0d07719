import { Empty } from "../../../core/components/empty.tsx";
import type { ClientCommands } from "../lib/commands.ts";

export function ClientCommandList({ groups }: { groups: ClientCommands[] }) {
  return (
    <>
      {groups.map((group) => (
        <section key={group.client}>
          <h3>{group.client}</h3>
          <p className="hint">{group.note}</p>
          {group.lines.length === 0 ? (
            <Empty>This client cannot carry the transports allowed to you.</Empty>
          ) : (
            group.lines.map((line) => (
              <div key={line.command}>
                <p className="hint">{line.label}</p>
                <pre>{line.command}</pre>
              </div>
            ))
          )}
        </section>
      ))}
    </>
  );
}
