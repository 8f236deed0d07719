import QRCode from "qrcode";
import type { AuthContext } from "../../session/lib/context.ts";
import { requestHostName } from "../../../core/lib/request.ts";
import { groupSecret, otpauthUri } from "@/server/secrets/totp.ts";
import { TwoFactorPanel, type TwoFactorView } from "./two-factor-panel.tsx";

export const TOTP_ISSUER = "Tunnel broker";

/** The signed-in user's TOTP state, with the QR code of an enrolment in progress. */
export async function twoFactorView(auth: AuthContext): Promise<TwoFactorView> {
  const status = await auth.broker.twoFactor.status(auth.user.id);
  let enrolment: TwoFactorView["enrolment"] = null;
  if (!status.enabled && status.pending) {
    const secret = await auth.broker.twoFactor.pendingSecret(auth.user.id);
    if (secret) {
      const uri = otpauthUri(secret, `${auth.user.name}@${await requestHostName()}`, TOTP_ISSUER);
      const qrDataUrl = await QRCode.toDataURL(uri, { margin: 1, width: 192, errorCorrectionLevel: "M" });
      enrolment = { qrDataUrl, secret, groupedSecret: groupSecret(secret) };
    }
  }
  return { enabled: status.enabled, enabledAt: status.enabledAt?.toISOString() ?? null, recoveryCodesLeft: status.recoveryCodesLeft, enrolment };
}

export async function TwoFactorSection({ auth, continueHref, canDisable }: { auth: AuthContext; continueHref?: string; canDisable?: boolean }) {
  return <TwoFactorPanel view={await twoFactorView(auth)} {...(continueHref ? { continueHref } : {})} {...(canDisable === undefined ? {} : { canDisable })} />;
}
