import type { Db } from "../../db/client.ts";
import type { User } from "../../db/generated/client.ts";
import { generateTunnelPassword, type TunnelPasswordBox } from "../../secrets/tunnel-password.ts";
import { audited, type Actor } from "../audit/repository.ts";
import { DomainError, isUniqueViolation, validate, type Untrusted } from "../errors.ts";
import {
  newUserSchema,
  parseList,
  TRANSPORTS,
  TUNNEL_TYPES,
  tunnelPasswordSchema,
  type NewUser,
} from "./schema.ts";

/** What may be shown and logged of a user: never a password or a hash. */
export function userSnapshot(user: User) {
  return {
    name: user.name,
    email: user.email,
    role: user.role,
    disabled: user.disabled,
    allowedTypes: parseList(user.allowedTypes, TUNNEL_TYPES),
    allowedTransports: parseList(user.allowedTransports, TRANSPORTS),
    mtu: user.mtu,
  };
}
export type UserView = ReturnType<typeof userSnapshot> & { id: number; createdAt: Date; hasWebPassword: boolean };

function view(user: User): UserView {
  return { id: user.id, createdAt: user.createdAt, hasWebPassword: user.webPasswordHash !== null, ...userSnapshot(user) };
}

export class UserRepository {
  constructor(
    private readonly db: Db,
    private readonly box: TunnelPasswordBox,
  ) {}

  /** Creates a user; without a DTCP password a strong one is generated. Returns it so it can be shown once. */
  async create(input: Untrusted<NewUser>, actor: Actor) {
    const tunnelPassword = input.tunnelPassword ?? generateTunnelPassword();
    const parsed = validate(newUserSchema, { ...input, tunnelPassword });
    try {
      const user = await audited(this.db, actor, "user.create", parsed.name, async (tx) => {
        const created = await tx.user.create({
          data: {
            name: parsed.name,
            role: parsed.role,
            email: parsed.email,
            allowedTypes: parsed.allowedTypes.join(","),
            allowedTransports: parsed.allowedTransports.join(","),
            mtu: parsed.mtu,
            tunnelPassword: this.box.seal(parsed.name, parsed.tunnelPassword),
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

  async list(search?: string): Promise<UserView[]> {
    const users = await this.db.user.findMany({
      where: search ? { OR: [{ name: { contains: search } }, { email: { contains: search } }] } : {},
      orderBy: { name: "asc" },
    });
    return users.map(view);
  }

  async get(name: string): Promise<UserView> {
    return view(await this.require(name));
  }

  async setDisabled(name: string, disabled: boolean, actor: Actor): Promise<UserView> {
    const user = await this.require(name);
    return view(
      await audited(this.db, actor, disabled ? "user.disable" : "user.enable", name, async (tx) => {
        const updated = await tx.user.update({ where: { id: user.id }, data: { disabled } });
        return { result: updated, before: userSnapshot(user), after: userSnapshot(updated) };
      }),
    );
  }

  async remove(name: string, actor: Actor): Promise<void> {
    const user = await this.require(name);
    await audited(this.db, actor, "user.remove", name, async (tx) => {
      await tx.user.delete({ where: { id: user.id } });
      return { result: undefined, before: userSnapshot(user) };
    });
  }

  /** Sets a new DTCP password (generated when none is given) and returns it. Live sessions keep running. */
  async rotateTunnelPassword(name: string, actor: Actor, password?: string): Promise<string> {
    const user = await this.require(name);
    const next = validate(tunnelPasswordSchema, password ?? generateTunnelPassword(), "tunnelPassword");
    await audited(this.db, actor, "user.tunnel-password.rotate", name, async (tx) => {
      await tx.user.update({ where: { id: user.id }, data: { tunnelPassword: this.box.seal(name, next) } });
      return { result: undefined };
    });
    return next;
  }

  /** The DTCP password in clear, for the user's own dtcpc.auth download. */
  async tunnelPassword(name: string): Promise<string> {
    const user = await this.require(name);
    return this.box.open(user.name, user.tunnelPassword);
  }

  private async require(name: string): Promise<User> {
    const user = await this.db.user.findUnique({ where: { name } });
    if (!user) throw new DomainError(`no user named ${name}`, "name");
    return user;
  }
}
