import { networkInterfaces } from "node:os";
import type { InterfaceAddress } from "./reachability.ts";

/** Every address of this host's interfaces. */
export function hostAddresses(): InterfaceAddress[] {
  return Object.values(networkInterfaces()).flatMap((list) => list ?? []);
}
