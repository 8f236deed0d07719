import type { Db } from "../../db/client.ts";
import type { Pool } from "../../db/generated/client.ts";
import { formatPrefix6, parsePrefix6, prefixesOverlap, subprefixCount } from "../../net/prefix.ts";
import { audited, type Actor } from "../audit/repository.ts";
import { DomainError, prefixField, validate, type Untrusted } from "../../domain/errors.ts";
import { isUniqueViolation } from "../errors.ts";
import { choosePop } from "../pops/repository.ts";
import { DEFAULT_PREFIX_LENGTH, newPoolSchema, type NewPool, type PoolPurpose } from "./schema.ts";

export interface PoolView {
  id: number;
  cidr: string;
  purpose: PoolPurpose;
  prefixLength: number;
  autoDelegate: boolean;
  /** The POP it is routed to. */
  pop: string;
  /** Prefixes (or link blocks) handed out. */
  used: number;
  /** How many prefixes of prefixLength the pool holds. */
  capacity: bigint;
}

type PoolRow = Pool & { pop: { name: string } };

function snapshot(pool: PoolRow) {
  return { cidr: pool.cidr, purpose: pool.purpose, prefixLength: pool.prefixLength, autoDelegate: pool.autoDelegate, pop: pool.pop.name };
}

const WITH_POP = { pop: { select: { name: true } } } as const;

export class PoolRepository {
  constructor(private readonly db: Db) {}

  async add(input: Untrusted<NewPool>, actor: Actor): Promise<PoolView> {
    const parsed = validate(newPoolSchema, input);
    const prefix = prefixField(parsed.cidr, "cidr");
    const length = parsed.prefixLength ?? DEFAULT_PREFIX_LENGTH[parsed.purpose];
    if (parsed.purpose === "link" && length !== 126 && length !== 127) {
      throw new DomainError("link pools hand out /126 or /127 blocks", "prefixLength");
    }
    if (parsed.purpose === "delegation" && length > 64) {
      throw new DomainError("delegated prefixes are /64 or shorter", "prefixLength");
    }
    if (length < prefix.length) {
      throw new DomainError(`a /${length} does not fit in ${formatPrefix6(prefix)}`, "prefixLength");
    }
    if (parsed.purpose === "link" && parsed.autoDelegate) {
      throw new DomainError("auto-delegation applies to delegation pools only", "autoDelegate");
    }
    const cidr = formatPrefix6(prefix);
    try {
      const pool = await audited(this.db, actor, "pool.add", cidr, async (tx) => {
        // Checked inside the transaction so two concurrent adds cannot both pass.
        for (const other of await tx.pool.findMany()) {
          if (prefixesOverlap(prefix, parsePrefix6(other.cidr))) {
            throw new DomainError(`${cidr} overlaps the existing pool ${other.cidr}`, "cidr");
          }
        }
        const pop = await choosePop(tx, parsed.pop);
        const created = await tx.pool.create({
          data: { cidr, purpose: parsed.purpose, prefixLength: length, autoDelegate: parsed.autoDelegate, popId: pop.id },
          include: WITH_POP,
        });
        return { result: created, after: snapshot(created) };
      });
      return { ...toView(pool), used: 0 };
    } catch (err) {
      if (isUniqueViolation(err)) throw new DomainError(`the pool ${cidr} exists already`, "cidr");
      throw err;
    }
  }

  /** Every pool, or the pools of one POP (those its daemon routes). */
  async list(popId?: number): Promise<PoolView[]> {
    const pools = await this.db.pool.findMany({
      where: popId === undefined ? {} : { popId },
      orderBy: { id: "asc" },
      include: { ...WITH_POP, _count: { select: { delegations: true, linkPairs: true } } },
    });
    return pools.map((p) => ({ ...toView(p), used: p._count.delegations + p._count.linkPairs }));
  }

  /** Removes an unused pool; a pool still holding delegations or link pairs is refused. */
  async remove(cidrText: string, actor: Actor): Promise<void> {
    const cidr = formatPrefix6(prefixField(cidrText, "cidr"));
    await audited(this.db, actor, "pool.remove", cidr, async (tx) => {
      const pool = await tx.pool.findUnique({
        where: { cidr },
        include: { ...WITH_POP, _count: { select: { delegations: true, linkPairs: true } } },
      });
      if (!pool) throw new DomainError(`no pool ${cidr}`, "cidr");
      const used = pool._count.delegations + pool._count.linkPairs;
      if (used > 0) throw new DomainError(`the pool ${cidr} still has ${used} prefixes handed out; release them first`, "cidr");
      await tx.pool.delete({ where: { id: pool.id } });
      return { result: undefined, before: snapshot(pool) };
    });
  }
}

function toView(pool: PoolRow): Omit<PoolView, "used"> {
  return {
    id: pool.id,
    pop: pool.pop.name,
    cidr: pool.cidr,
    purpose: pool.purpose as PoolPurpose,
    prefixLength: pool.prefixLength,
    autoDelegate: pool.autoDelegate,
    capacity: subprefixCount(parsePrefix6(pool.cidr), pool.prefixLength),
  };
}
