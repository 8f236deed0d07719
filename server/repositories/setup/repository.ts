import type { Db } from "../../db/client.ts";
import type { Tx } from "../../db/transaction.ts";
import { hashToken, newToken } from "../../secrets/token.ts";
import type { Actor } from "../audit/repository.ts";
import { DomainError } from "../../domain/errors.ts";
import { setSettingIn } from "../settings/repository.ts";
import type { UserRepository } from "../users/repository.ts";

/** A set-up link works for this long, once. */
export const SETUP_TOKEN_TTL_MS = 3600_000;

/** The one-time link that lets the first administrator choose a name and password. */
/** The token is not (or no longer) a set-up link: the one refusal a guesser can get, so it is throttled. */
export class SetupLinkError extends DomainError {}

export class SetupRepository {
  constructor(
    private readonly db: Db,
    private readonly now: () => Date = () => new Date(),
  ) {}

  needed(): Promise<boolean> {
    return this.db.user.count({ where: { role: "admin" } }).then((n) => n === 0);
  }

  /** A new set-up token when no administrator exists (earlier unused ones stop working), else null. */
  async issue(): Promise<string | null> {
    if (!(await this.needed())) return null;
    const { token, hash } = newToken();
    const now = this.now();
    await this.db.$transaction([
      this.db.setupToken.deleteMany({ where: { usedAt: null } }),
      this.db.setupToken.create({ data: { id: hash, createdAt: now, expiresAt: new Date(now.getTime() + SETUP_TOKEN_TTL_MS) } }),
    ]);
    return token;
  }

  /** Whether a token from a link can still be used. */
  async usable(token: string): Promise<boolean> {
    const row = await this.db.setupToken.findUnique({ where: { id: hashToken(token) } });
    return row !== null && row.usedAt === null && row.expiresAt > this.now() && (await this.needed());
  }

  /**
   * Creates the first administrator, saves the server name clients connect to (when given, already
   * validated) and uses up the token, in one transaction.
   */
  async complete(token: string, input: { name: unknown; password: unknown; publicHost?: string }, users: UserRepository, actor: Actor) {
    const consume = async (tx: Tx) => {
      const now = this.now();
      const { count } = await tx.setupToken.updateMany({
        where: { id: hashToken(token), usedAt: null, expiresAt: { gt: now } },
        data: { usedAt: now },
      });
      if (count !== 1) throw new SetupLinkError("this set-up link is used up or has expired; restart the broker for a new one");
      if ((await tx.user.count({ where: { role: "admin" } })) > 0) throw new DomainError("an administrator exists already");
      if (input.publicHost) await setSettingIn(tx, "publicHost", input.publicHost, actor);
    };
    if (typeof input.password !== "string") throw new DomainError("choose a password", "webPassword");
    return users.create({ name: input.name, role: "admin" }, actor, { webPassword: input.password, inside: consume });
  }
}
