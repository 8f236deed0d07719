import { requireUser } from "@/modules/auth/session/lib/context.ts";
import { ActionForm } from "@/modules/core/components/action-form.tsx";
import { ConfirmSubmit } from "@/modules/core/components/confirm-submit.tsx";
import { rotateMyTunnelPassword } from "@/modules/portal/my-tunnel/actions.ts";
import { ConnectChooser } from "@/modules/portal/my-tunnel/components/connect-chooser.tsx";
import { LiveSessionsProvider } from "@/modules/core/live/live-sessions-context.tsx";
import { LiveConnection } from "@/modules/portal/my-tunnel/components/live-connection.tsx";
import { SessionTable } from "@/modules/portal/my-tunnel/components/session-table.tsx";
import { TrafficChart } from "@/modules/portal/my-tunnel/components/traffic-chart.tsx";
import { dtcpServer } from "@/modules/portal/my-tunnel/lib/server-address.ts";
import { hourlyTraffic } from "@/modules/portal/my-tunnel/lib/traffic.ts";

export const metadata = { title: "My tunnel" };

export default async function MyTunnelPage() {
  const { broker, user: me } = await requireUser();
  const now = new Date();
  const since = new Date(now.getTime() - 24 * 3600_000);
  const [user, delegations, pair, recent, lastDay] = await Promise.all([
    broker.users.get(me.name),
    broker.allocations.list(me.name),
    broker.allocations.linkPair(me.id),
    broker.sessions.list({ userId: me.id, limit: 10 }),
    broker.sessions.overlapping(me.id, since, now),
  ]);
  const server = await dtcpServer(user.pop);
  const setup = { server: server.host, port: server.port, user: user.name, types: user.allowedTypes, transports: user.allowedTransports, tunnels: server.tunnels };
  return (
    <>
      <h1>My tunnel</h1>
      {server.warning ? (
        <div className="notice notice-warn" role="status" data-server-warning>
          <p>{server.warning}</p>
        </div>
      ) : null}
      <LiveSessionsProvider pop={user.pop}>
        <section className="panel" aria-label="Connected now">
          <h2>Right now</h2>
          <LiveConnection />
        </section>
        <div className="grid-2">
          <section className="panel">
            <h2>Connection</h2>
            <dl className="facts">
              <dt>Server</dt>
              <dd>
                <code>{server.host}</code>
              </dd>
              <dt>DTCP port</dt>
              <dd>{server.port}</dd>
              <dt>User name</dt>
              <dd>
                <code>{user.name}</code>
              </dd>
              <dt>Tunnel types</dt>
              <dd>{user.allowedTypes.join(", ")}</dd>
              <dt>Transports</dt>
              <dd>{user.allowedTransports.map((t) => (t === "proto41" ? "IPv6-in-IPv4 (protocol 41)" : t === "tcp" ? "TCP and TLS" : "UDP")).join(", ")}</dd>
              <dt>MTU</dt>
              <dd>{user.mtu}</dd>
              <dt>Link addresses</dt>
              <dd>
                {pair ? (
                  <>
                    yours <code>{pair.clientAddress}</code>, the server’s <code>{pair.serverAddress}</code>
                  </>
                ) : (
                  "given at your first host tunnel"
                )}
              </dd>
              <dt>Delegated prefix</dt>
              <dd>{delegations.length ? delegations.map((d) => <code key={d.id}>{d.prefix} </code>) : "none"}</dd>
            </dl>
          </section>
          <section className="panel">
            <h2>Password files</h2>
            <p>
              Each holds one line, <code>server:user:password</code>. Save it as <code>/usr/local/etc/dtcpc.auth</code> (or <code>dtcpclient.auth</code>) with
              mode 600.
            </p>
            <p className="actions">
              <a className="button" href="/tunnel/dtcpc.auth" download>
                Download dtcpc.auth
              </a>
              <a className="button button-quiet" href="/tunnel/dtcpclient.auth" download>
                Download dtcpclient.auth
              </a>
            </p>
            <h2>DTCP password</h2>
            <ActionForm action={rotateMyTunnelPassword}>
              <p className="hint">A running session ends at once; your clients need the new password to connect again.</p>
              <div className="actions">
                <ConfirmSubmit label="Rotate my DTCP password" question="Replace your DTCP password? Your clients need the new one." confirmLabel="Yes, rotate" />
              </div>
            </ActionForm>
          </section>
        </div>
        <h2>Traffic, last 24 hours</h2>
        <section className="panel">
          <TrafficChart buckets={hourlyTraffic(lastDay, now)} />
        </section>
        <h2>Recent sessions</h2>
        <SessionTable rows={recent} />
      </LiveSessionsProvider>
      <h2>Connecting</h2>
      <section className="panel" aria-label="Connecting">
        <ConnectChooser setup={setup} />
      </section>
    </>
  );
}
