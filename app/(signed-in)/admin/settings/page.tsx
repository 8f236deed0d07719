import { hostAddresses } from "@/server/net/host-addresses.ts";
import { PublicHostForm } from "@/modules/admin/settings/components/public-host-form.tsx";
import { SettingsForm } from "@/modules/admin/settings/components/settings-form.tsx";
import { requestHostName } from "@/modules/core/lib/request.ts";
import { requireAdmin } from "@/modules/auth/session/lib/context.ts";
import { suggestServerName } from "@/server/net/reachability.ts";

export const metadata = { title: "Settings" };

export default async function SettingsPage() {
  const { broker } = await requireAdmin();
  const [requireAdminTotp, publicHost, seen] = await Promise.all([broker.settings.get("requireAdminTotp"), broker.settings.get("publicHost"), requestHostName()]);
  return (
    <>
      <h1>Settings</h1>
      <section className="panel">
        <h2>Server name</h2>
        <PublicHostForm current={publicHost} suggestion={suggestServerName(seen, hostAddresses())} fromEnvironment={process.env.BROKER_PUBLIC_HOST || null} />
      </section>
      <section className="panel">
        <h2>Sign-in</h2>
        <SettingsForm requireAdminTotp={requireAdminTotp} />
      </section>
    </>
  );
}
