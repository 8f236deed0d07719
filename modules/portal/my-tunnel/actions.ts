"use server";

import { requireUser } from "../../auth/session/lib/context.ts";
import type { FormState } from "../../core/lib/form-state.ts";
import { refusal } from "../../core/lib/form.ts";

/** The signed-in user replaces their own DTCP password; the new one is shown once. */
export async function rotateMyTunnelPassword(_prev: FormState, form: FormData): Promise<FormState> {
  const { broker, actor, user } = await requireUser();
  try {
    const password = await broker.users.rotateTunnelPassword(user.name, actor);
    return {
      status: "ok",
      message: "Your DTCP password is replaced. A running session keeps going until it reconnects; then it needs the new password (download the auth file again).",
      reveal: [{ label: "New DTCP password", value: password }],
    };
  } catch (err) {
    return refusal(err, form);
  }
}
