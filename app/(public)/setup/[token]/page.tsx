import { hostAddresses } from "@/server/net/host-addresses.ts";
import { broker } from "@/modules/core/lib/broker.ts";
import { clientAddress, requestHostName } from "@/modules/core/lib/request.ts";
import { setupLinkName, throttledCheck } from "@/modules/auth/sign-in/lib/throttle.ts";
import { SetupForm } from "@/modules/auth/setup/components/setup-form.tsx";
import { localOnly, suggestServerName } from "@/server/net/reachability.ts";

export const metadata = { title: "Set up" };

export default async function SetupPage({ params }: { params: Promise<{ token: string }> }) {
  const { token } = await params;
  const repos = await broker();
  // Looking a token up is a guess at a secret like a sign-in: throttled per address like one.
  const source = await clientAddress();
  const checked = await throttledCheck(source, setupLinkName(source), async () => ((await repos.setup.usable(token)) ? true : null));
  if (checked.verdict !== "right") {
    return (
      <>
        <h1>Set-up link not valid</h1>
        <p>This link was used already, has expired, or an administrator exists. Restart the broker to print a new one if no administrator exists yet.</p>
      </>
    );
  }
  const serverName = process.env.BROKER_PUBLIC_HOST || suggestServerName(await requestHostName(), hostAddresses());
  const local = localOnly(serverName);
  return (
    <>
      <h1>Create the administrator</h1>
      <p>Choose the name and password of the first administrator, and the name clients connect to. The link works once.</p>
      <SetupForm token={token} serverName={serverName} serverNameWarning={local ? `${serverName} is ${local}: enter the name clients elsewhere use.` : null} />
    </>
  );
}
