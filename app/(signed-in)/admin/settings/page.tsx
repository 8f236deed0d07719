import { SettingsForm } from "@/modules/admin/settings/components/settings-form.tsx";
import { requireAdmin } from "@/modules/auth/session/lib/context.ts";

export const metadata = { title: "Settings" };

export default async function SettingsPage() {
  const { broker } = await requireAdmin();
  const requireAdminTotp = await broker.settings.get("requireAdminTotp");
  return (
    <>
      <h1>Settings</h1>
      <section className="panel">
        <h2>Sign-in</h2>
        <SettingsForm requireAdminTotp={requireAdminTotp} />
      </section>
    </>
  );
}
