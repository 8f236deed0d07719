import { resolvePaths } from "@/server/config.ts";
import { openStorage, type Repositories } from "@/server/storage/storage.ts";

/** The repositories the web app works through: the same ones dtcpctl uses. */
export type Broker = Repositories;

async function open(): Promise<Broker> {
  const paths = resolvePaths();
  return openStorage(paths.databaseUrl, paths);
}

// One connection per process, kept on globalThis so that `next dev` reloads do not open more.
const holder = globalThis as typeof globalThis & { brokerRepositories?: Promise<Broker> };

export function broker(): Promise<Broker> {
  holder.brokerRepositories ??= open().catch((err: unknown) => {
    holder.brokerRepositories = undefined;
    throw err;
  });
  return holder.brokerRepositories;
}
