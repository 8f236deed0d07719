import type { Db } from "../../db/client.ts";
import type { Tx } from "../../db/transaction.ts";
import { audited, writeAudit, type Actor } from "../audit/repository.ts";

/** Broker-wide settings changed from the web UI, with their defaults. */
export const SETTING_DEFAULTS = {
  /** Administrators must sign in with a TOTP code; one without TOTP is sent to set it up first. */
  requireAdminTotp: false,
  /** The name or IPv4 address clients connect to, put in dtcpc.auth and every command line; empty: not set. */
  publicHost: "",
} satisfies Record<string, unknown>;

export type Settings = typeof SETTING_DEFAULTS;
export type SettingKey = keyof Settings;

export class SettingsRepository {
  constructor(private readonly db: Db) {}

  async get<K extends SettingKey>(key: K): Promise<Settings[K]> {
    const row = await this.db.setting.findUnique({ where: { key } });
    if (!row) return SETTING_DEFAULTS[key];
    try {
      const value: unknown = JSON.parse(row.value);
      return typeof value === typeof SETTING_DEFAULTS[key] ? (value as Settings[K]) : SETTING_DEFAULTS[key];
    } catch {
      return SETTING_DEFAULTS[key];
    }
  }

  async set<K extends SettingKey>(key: K, value: Settings[K], actor: Actor): Promise<void> {
    const before = await this.get(key);
    await audited(this.db, actor, "setting.set", key, async (tx) => {
      await writeSetting(tx, key, value);
      return { result: undefined, before: { [key]: before }, after: { [key]: value } };
    });
  }
}

/** Sets a setting inside a transaction that writes something else too, with its audit entry. */
export async function setSettingIn<K extends SettingKey>(tx: Tx, key: K, value: Settings[K], actor: Actor): Promise<void> {
  const row = await tx.setting.findUnique({ where: { key } });
  await writeSetting(tx, key, value);
  await writeAudit(tx, actor, { action: "setting.set", target: key, before: { [key]: row ? JSON.parse(row.value) : SETTING_DEFAULTS[key] }, after: { [key]: value } });
}

async function writeSetting(tx: Tx, key: SettingKey, value: unknown): Promise<void> {
  const json = JSON.stringify(value);
  await tx.setting.upsert({ where: { key }, create: { key, value: json }, update: { value: json } });
}
