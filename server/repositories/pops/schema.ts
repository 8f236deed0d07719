import { z } from "zod";
import { publicHostSchema } from "../settings/schema.ts";
import { isLoopbackHost } from "../../net/reachability.ts";

/** The POP every database has; a one-box broker's only one. */
export const DEFAULT_POP = "default";

export const popNameSchema = z
  .string()
  .trim()
  .regex(/^[a-z0-9][a-z0-9-]{0,31}$/, "POP names are 1–32 characters: lowercase letters, digits or '-', starting with a letter or digit");

/** What a POP's clients connect to, as the broker-wide server name is checked. */
export const popHostSchema = publicHostSchema.refine((v) => v !== "", "Enter a host name such as pop2.example.net, or an IPv4 address.");

export const apiUrlSchema = z
  .string()
  .trim()
  .refine((text) => {
    try {
      const url = new URL(text);
      return (url.protocol === "http:" || url.protocol === "https:") && url.hostname !== "" && url.pathname === "/" && !url.search && !url.username;
    } catch {
      return false;
    }
  }, "the live-session API is a URL such as https://pop2.example.net:8443 (http or https, no path)")
  // Tokens and kicks travel on it: in clear only where they never leave the machine.
  .refine((text) => {
    const url = new URL(text);
    return url.protocol === "https:" || isLoopbackHost(url.hostname);
  }, "plain http:// is for this machine only (127.0.0.1, [::1], localhost); a POP elsewhere is reached over https://")
  .transform((text) => new URL(text).origin);

export const newPopSchema = z.object({
  name: popNameSchema,
  publicHost: popHostSchema.nullable().default(null),
  apiUrl: apiUrlSchema.nullable().default(null),
});
export type NewPop = z.input<typeof newPopSchema>;

/** What an administrator may change of a POP; omitted fields stay, null clears. */
export const popChangesSchema = z.object({
  publicHost: popHostSchema.nullable().optional(),
  apiUrl: apiUrlSchema.nullable().optional(),
});
export type PopChanges = z.input<typeof popChangesSchema>;
