import type { Db } from "../../db/client.ts";
import type { Pop } from "../../db/generated/client.ts";
import type { Tx } from "../../db/transaction.ts";
import { DomainError, validate, type Untrusted } from "../../domain/errors.ts";
import { audited, type Actor } from "../audit/repository.ts";
import { isUniqueViolation } from "../errors.ts";
import { newPopSchema, popChangesSchema, popNameSchema, type NewPop, type PopChanges } from "./schema.ts";

/** A POP as the administration sees it. */
export interface PopView {
  id: number;
  name: string;
  /** What its clients connect to; null: the broker-wide server name. */
  publicHost: string | null;
  /** Where the web app reaches its live-session API; null: the local daemon's. */
  apiUrl: string | null;
  /** The daemon's latest sign of life; null until it first starts. */
  heartbeatAt: Date | null;
  /** IPv6 over TCP as its daemon offers it (null: not offered). */
  tunnels: PopTunnels;
  users: number;
  pools: number;
  liveSessions: number;
  /** Bytes from and to clients of the sessions live now or ended in the last 24 hours (live ones as last recorded). */
  traffic: { bytesIn: bigint; bytesOut: bigint };
}

/** How a POP's daemon offers IPv6 over TCP: its ports, and its TLS certificate's SHA-256 fingerprint. */
export interface PopTunnels {
  tcpPort: number | null;
  tlsPort: number | null;
  tlsFingerprint: string | null;
}

/** A POP a user or pool belongs to, by id and name. */
export interface PopRef {
  id: number;
  name: string;
}

function snapshot(pop: Pop) {
  return { name: pop.name, publicHost: pop.publicHost, apiUrl: pop.apiUrl };
}

/**
 * The POP a name chooses, inside a transaction. Without a name: the only POP there is; with
 * several, a name is needed (so that nothing lands on one by accident).
 */
export async function choosePop(tx: Tx | Db, name: unknown, field = "pop"): Promise<PopRef> {
  if (name === undefined || name === null || name === "") {
    const pops = await tx.pop.findMany({ select: { id: true, name: true }, orderBy: { name: "asc" }, take: 11 });
    if (pops.length === 1) return pops[0]!;
    const names = pops.slice(0, 10).map((p) => p.name).join(", ");
    throw new DomainError(`choose a POP: there are several (${names}${pops.length > 10 ? ", …" : ""})`, field);
  }
  const parsed = validate(popNameSchema, name, field);
  const pop = await tx.pop.findUnique({ where: { name: parsed }, select: { id: true, name: true } });
  if (!pop) throw new DomainError(`no POP named ${parsed}`, field);
  return pop;
}

export class PopRepository {
  constructor(private readonly db: Db) {}

  async list(now = new Date()): Promise<PopView[]> {
    const since = new Date(now.getTime() - 24 * 3600_000);
    const [pops, live, traffic] = await Promise.all([
      this.db.pop.findMany({ orderBy: { name: "asc" }, include: { _count: { select: { users: true, pools: true } } } }),
      this.db.session.groupBy({ by: ["popId"], where: { endedAt: null }, _count: { _all: true } }),
      this.db.session.groupBy({ by: ["popId"], where: { OR: [{ endedAt: null }, { endedAt: { gte: since } }] }, _sum: { bytesIn: true, bytesOut: true } }),
    ]);
    const liveByPop = new Map(live.map((row) => [row.popId, row._count._all]));
    const trafficByPop = new Map(traffic.map((row) => [row.popId, { bytesIn: row._sum.bytesIn ?? 0n, bytesOut: row._sum.bytesOut ?? 0n }]));
    return pops.map(({ _count, ...pop }) => ({
      ...view(pop),
      users: _count.users,
      pools: _count.pools,
      liveSessions: liveByPop.get(pop.id) ?? 0,
      traffic: trafficByPop.get(pop.id) ?? { bytesIn: 0n, bytesOut: 0n },
    }));
  }

  async get(name: string): Promise<PopView> {
    const found = (await this.list()).find((p) => p.name === name);
    if (!found) throw new DomainError(`no POP named ${name}`, "name");
    return found;
  }

  async add(input: Untrusted<NewPop>, actor: Actor): Promise<PopView> {
    const parsed = validate(newPopSchema, input);
    try {
      const pop = await audited(this.db, actor, "pop.add", parsed.name, async (tx) => {
        const created = await tx.pop.create({ data: parsed });
        return { result: created, after: snapshot(created) };
      });
      return { ...view(pop), users: 0, pools: 0, liveSessions: 0, traffic: { bytesIn: 0n, bytesOut: 0n } };
    } catch (err) {
      if (isUniqueViolation(err)) throw new DomainError(`a POP named ${parsed.name} already exists`, "name");
      throw err;
    }
  }

  async update(name: string, changes: Untrusted<PopChanges>, actor: Actor): Promise<PopView> {
    const parsed = validate(popChangesSchema, changes);
    await audited(this.db, actor, "pop.update", name, async (tx) => {
      const pop = await tx.pop.findUnique({ where: { name } });
      if (!pop) throw new DomainError(`no POP named ${name}`, "name");
      const updated = await tx.pop.update({ where: { id: pop.id }, data: parsed });
      return { result: updated, before: snapshot(pop), after: snapshot(updated) };
    });
    return this.get(name);
  }

  /** Removes a POP that serves no user and routes no pool; its sessions' history stays, without it. */
  async remove(name: string, actor: Actor): Promise<void> {
    await audited(this.db, actor, "pop.remove", name, async (tx) => {
      const pop = await tx.pop.findUnique({ where: { name }, include: { _count: { select: { users: true, pools: true } } } });
      if (!pop) throw new DomainError(`no POP named ${name}`, "name");
      if (pop._count.users > 0 || pop._count.pools > 0) {
        throw new DomainError(`the POP ${name} still has ${pop._count.users} users and ${pop._count.pools} pools; move or remove them first`, "name");
      }
      if ((await tx.pop.count()) === 1) throw new DomainError("the last POP cannot be removed", "name");
      const live = await tx.session.count({ where: { popId: pop.id, endedAt: null } });
      if (live > 0) throw new DomainError(`the POP ${name} has ${live} live sessions`, "name");
      await tx.pop.delete({ where: { id: pop.id } });
      return { result: undefined, before: snapshot(pop) };
    });
  }

  /** What the POP's daemon offers of IPv6 over TCP, recorded at each start for the portal's command lines. */
  async announceTunnels(popId: number, tunnels: PopTunnels): Promise<void> {
    await this.db.pop.update({ where: { id: popId }, data: tunnels });
  }

  /**
   * What a daemon started with `--pop <name>` does: the POP is created if it does not exist yet, and
   * what the daemon knows of itself fills what the administrator left unset.
   */
  async register(name: string, known: { publicHost: string | null; apiUrl: string | null }, actor: Actor): Promise<PopRef> {
    const parsed = validate(newPopSchema, { name, ...known });
    const existing = await this.db.pop.findUnique({ where: { name: parsed.name } });
    const fill = { ...(existing?.publicHost ? {} : parsed.publicHost ? { publicHost: parsed.publicHost } : {}), ...(existing?.apiUrl ? {} : parsed.apiUrl ? { apiUrl: parsed.apiUrl } : {}) };
    if (existing && Object.keys(fill).length === 0) return { id: existing.id, name: existing.name };
    try {
      return await audited(this.db, actor, existing ? "pop.update" : "pop.add", parsed.name, async (tx) => {
        const pop = existing ? await tx.pop.update({ where: { id: existing.id }, data: fill }) : await tx.pop.create({ data: parsed });
        return { result: { id: pop.id, name: pop.name }, before: existing ? snapshot(existing) : undefined, after: snapshot(pop) };
      });
    } catch (err) {
      // Another daemon of the same name registered it meanwhile.
      if (isUniqueViolation(err)) return this.register(name, known, actor);
      throw err;
    }
  }
}

function view(pop: Pop): Omit<PopView, "users" | "pools" | "liveSessions" | "traffic"> {
  return {
    id: pop.id,
    name: pop.name,
    publicHost: pop.publicHost,
    apiUrl: pop.apiUrl,
    heartbeatAt: pop.heartbeatAt,
    tunnels: { tcpPort: pop.tcpPort, tlsPort: pop.tlsPort, tlsFingerprint: pop.tlsFingerprint },
  };
}
