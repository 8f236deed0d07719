import { TRANSPORTS, TUNNEL_TYPES } from "../../domain/types.ts";
import type { Db } from "../../db/client.ts";
import type { User } from "../../db/generated/client.ts";
import type { Tx } from "../../db/transaction.ts";
import { generateTunnelPassword, totpSealName, type SecretBox } from "../../secrets/tunnel-password.ts";
import { hashWebPassword, verifyWebPassword, webPasswordSchema } from "../../secrets/web-password.ts";
import { audited, type Actor } from "../audit/repository.ts";
import { ALLOCATION, moveAllocations, type Holdings } from "../delegations/repository.ts";
import { choosePop } from "../pops/repository.ts";
import { DomainError, validate, type Untrusted } from "../../domain/errors.ts";
import { isUniqueViolation } from "../errors.ts";
import { newUserSchema, parseList, tunnelPasswordSchema, userChangesSchema, type NewUser, type UserChanges } from "./schema.ts";

type UserRow = User & { pop: { name: string } };
const WITH_POP = { pop: { select: { name: true } } } as const;

/** What may be shown and logged of a user: never a password or a hash. */
export function userSnapshot(user: UserRow) {
  return {
    name: user.name,
    pop: user.pop.name,
    email: user.email,
    role: user.role,
    disabled: user.disabled,
    allowedTypes: parseList(user.allowedTypes, TUNNEL_TYPES),
    allowedTransports: parseList(user.allowedTransports, TRANSPORTS),
    mtu: user.mtu,
  };
}
export type UserView = ReturnType<typeof userSnapshot> & { id: number; createdAt: Date; hasWebPassword: boolean };

function view(user: UserRow): UserView {
  return { id: user.id, createdAt: user.createdAt, hasWebPassword: user.webPasswordHash !== null, ...userSnapshot(user) };
}

export interface CreateOptions {
  /** A web password to set at once (validated, stored as an argon2id hash). */
  webPassword?: string;
  /** Runs first inside the creating transaction: a precondition or a write that must commit with the user. */
  inside?: (tx: Tx) => Promise<void>;
}

export class UserRepository {
  constructor(
    private readonly db: Db,
    private readonly box: SecretBox,
  ) {}

  /** Creates a user; without a DTCP password a strong one is generated. Returns it so it can be shown once. */
  async create(input: Untrusted<NewUser>, actor: Actor, options: CreateOptions = {}) {
    const tunnelPassword = input.tunnelPassword ?? generateTunnelPassword();
    // One pass over everything, web password included, so that a refusal names every wrong field.
    const { webPassword, ...parsed } = validate(newUserSchema.extend({ webPassword: webPasswordSchema.optional() }), {
      ...input,
      tunnelPassword,
      webPassword: options.webPassword,
    });
    const webPasswordHash = webPassword === undefined ? null : await hashWebPassword(webPassword);
    try {
      const user = await audited(this.db, actor, "user.create", parsed.name, async (tx) => {
        await options.inside?.(tx);
        const pop = await choosePop(tx, parsed.pop);
        const created = await tx.user.create({
          include: WITH_POP,
          data: {
            popId: pop.id,
            name: parsed.name,
            role: parsed.role,
            email: parsed.email,
            allowedTypes: parsed.allowedTypes.join(","),
            allowedTransports: parsed.allowedTransports.join(","),
            mtu: parsed.mtu,
            tunnelPassword: this.box.seal(parsed.name, parsed.tunnelPassword),
            webPasswordHash,
          },
        });
        return { result: created, after: userSnapshot(created) };
      });
      return { user: view(user), tunnelPassword: parsed.tunnelPassword };
    } catch (err) {
      if (isUniqueViolation(err)) throw new DomainError(`a user named ${parsed.name} already exists`, "name");
      throw err;
    }
  }

  count(): Promise<number> {
    return this.db.user.count();
  }

  async list(search?: string): Promise<UserView[]> {
    const users = await this.db.user.findMany({
      include: WITH_POP,
      where: search ? { OR: [{ name: { contains: search } }, { email: { contains: search } }] } : {},
      orderBy: { name: "asc" },
    });
    return users.map(view);
  }

  async get(name: string): Promise<UserView> {
    return view(await this.require(name));
  }

  /** Disabling also signs the user out of the web app everywhere. */
  async setDisabled(name: string, disabled: boolean, actor: Actor): Promise<UserView> {
    const user = await this.require(name);
    return view(
      await audited(this.db, actor, disabled ? "user.disable" : "user.enable", name, async (tx) => {
        const updated = await tx.user.update({ where: { id: user.id }, data: { disabled }, include: WITH_POP });
        if (disabled) await tx.webSession.deleteMany({ where: { userId: user.id } });
        return { result: updated, before: userSnapshot(user), after: userSnapshot(updated) };
      }),
    );
  }

  /**
   * Changes e-mail, allowed tunnel types and transports, MTU or POP; a live session keeps what it
   * was granted until it reconnects. A new POP is a move (audited as user.move): the user's
   * prefixes are released and taken anew from the new POP's pools, in the same transaction, and
   * the old POP's daemon ends their live session.
   */
  async update(name: string, changes: Untrusted<UserChanges>, actor: Actor): Promise<UserView> {
    const parsed = validate(userChangesSchema, changes);
    const user = await this.require(name);
    const moving = parsed.pop !== undefined && parsed.pop !== user.pop.name;
    const result = await audited(
      this.db,
      actor,
      moving ? "user.move" : "user.update",
      name,
      async (tx) => {
        let holdings: { before: Holdings; after: Holdings } | null = null;
        let popId: number | undefined;
        if (moving) {
          const pop = await choosePop(tx, parsed.pop);
          holdings = await moveAllocations(tx, user.id, user.pop.name, pop);
          popId = pop.id;
        }
        const updated = await tx.user.update({
          where: { id: user.id },
          include: WITH_POP,
          data: {
            email: parsed.email,
            allowedTypes: parsed.allowedTypes?.join(","),
            allowedTransports: parsed.allowedTransports?.join(","),
            mtu: parsed.mtu,
            popId,
          },
        });
        return {
          result: updated,
          before: { ...userSnapshot(user), ...(holdings && { prefixes: holdings.before.prefixes, linkBlock: holdings.before.linkBlock }) },
          after: { ...userSnapshot(updated), ...(holdings && { prefixes: holdings.after.prefixes, linkBlock: holdings.after.linkBlock }) },
        };
      },
      moving ? ALLOCATION : {},
    );
    return view(result);
  }

  async remove(name: string, actor: Actor): Promise<void> {
    const user = await this.require(name);
    await audited(this.db, actor, "user.remove", name, async (tx) => {
      await tx.user.delete({ where: { id: user.id } });
      return { result: undefined, before: userSnapshot(user) };
    });
  }

  /** Sets a new DTCP password (generated when none is given) and returns it. The daemon ends a live session that logged in with the old one. */
  async rotateTunnelPassword(name: string, actor: Actor, password?: string): Promise<string> {
    const user = await this.require(name);
    const next = validate(tunnelPasswordSchema, password ?? generateTunnelPassword(), "tunnelPassword");
    await audited(this.db, actor, "user.tunnel-password.rotate", name, async (tx) => {
      await tx.user.update({ where: { id: user.id }, data: { tunnelPassword: this.box.seal(name, next) } });
      return { result: undefined };
    });
    return next;
  }

  /**
   * Sets the web password and signs the user out of every browser except `keepSessionId`
   * (the session of a user changing their own password).
   */
  async setWebPassword(name: string, password: string, actor: Actor, keepSessionId?: string): Promise<void> {
    const user = await this.require(name);
    const hash = await hashWebPassword(validate(webPasswordSchema, password, "webPassword"));
    await audited(this.db, actor, "user.web-password.set", name, async (tx) => {
      await tx.user.update({ where: { id: user.id }, data: { webPasswordHash: hash } });
      await tx.webSession.deleteMany({ where: { userId: user.id, ...(keepSessionId ? { id: { not: keepSessionId } } : {}) } });
      return { result: undefined };
    });
  }

  /** The user a name and web password identify, or null (unknown, wrong password, disabled, no web password). */
  async checkWebPassword(name: string, password: string): Promise<UserView | null> {
    const user = await this.db.user.findUnique({ where: { name }, include: WITH_POP });
    const matches = await verifyWebPassword(user?.webPasswordHash ?? null, password);
    return user && matches && !user.disabled ? view(user) : null;
  }

  /**
   * Seals every stored secret (DTCP passwords, TOTP secrets) anew under the current key, opening
   * each with whichever key it was sealed under: the last step of a key rotation. One transaction;
   * returns how many users' secrets were sealed anew.
   */
  async resealSecrets(actor: Actor): Promise<number> {
    const reseal = (name: string, sealed: Uint8Array) => this.box.seal(name, this.box.open(name, sealed));
    return audited(this.db, actor, "secret-key.reseal", "*", async (tx) => {
      const users = await tx.user.findMany({ select: { id: true, name: true, tunnelPassword: true, totpSecret: true, totpPendingSecret: true } });
      for (const u of users) {
        await tx.user.update({
          where: { id: u.id },
          data: {
            tunnelPassword: reseal(u.name, u.tunnelPassword),
            totpSecret: u.totpSecret && reseal(totpSealName(u.name), u.totpSecret),
            totpPendingSecret: u.totpPendingSecret && reseal(totpSealName(u.name), u.totpPendingSecret),
          },
        });
      }
      return { result: users.length, after: { users: users.length } };
    });
  }

  /** The DTCP password in clear, for the user's own dtcpc.auth download. */
  async tunnelPassword(name: string): Promise<string> {
    const user = await this.require(name);
    return this.box.open(user.name, user.tunnelPassword);
  }

  private async require(name: string): Promise<UserRow> {
    const user = await this.db.user.findUnique({ where: { name }, include: WITH_POP });
    if (!user) throw new DomainError(`no user named ${name}`, "name");
    return user;
  }
}
