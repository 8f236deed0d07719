import { userInfo } from "node:os";
import { resolvePaths } from "../config.ts";
import type { Actor } from "../repositories/audit/repository.ts";
import { DEFAULT_POP } from "../repositories/pops/schema.ts";
import { copyStorage } from "../storage/copy.ts";
import { openStorage, type Storage } from "../storage/storage.ts";
import { numberOption, parseCommandLine, runMain, UsageError } from "./args.ts";
import { printRecords, printTable } from "./table.ts";

const USAGE = `usage: dtcpctl <command> [options]
  user add <name> [--admin] [--email addr] [--types t,…] [--transports proto41,udp,tcp] [--mtu n] [--pop name] [--tunnel-password-stdin]
  user list [--search text]
  user show <name>
  user set <name> [--email addr|""] [--types t,…] [--transports proto41,udp,tcp] [--mtu n] [--pop name]
  user disable|enable|remove <name>
  tunnel-password rotate <name> [--tunnel-password-stdin]
  pool add <cidr> --purpose link|delegation [--size len] [--auto] [--pop name]
  pool list
  pool remove <cidr>
  pop add <name> [--address host] [--api-url url]
  pop set <name> [--address host|""] [--api-url url|""]
  pop list
  pop remove <name>
  delegate <user> [--pool cidr]
  undelegate <user> <prefix>
  delegations [--user name]
  sessions [--live] [--user name] [--pop name] [--limit n]
  audit [--action prefix] [--limit n]
  db copy-to <postgresql://…>   copies this broker's database (DATABASE_URL) into a new, empty one
  secret-key reseal             seals every stored secret anew under BROKER_SECRET_KEY_FILE (the end of a key rotation)
--pop may be left out while there is only one POP. Every listing takes --json. Environment: DATABASE_URL, BROKER_DATA_DIR, BROKER_SECRET_KEY_FILE, BROKER_PREVIOUS_SECRET_KEY_FILE.`;

interface Context {
  storage: Storage;
  actor: Actor;
  args: string[];
}

type Handler = (ctx: Context) => Promise<void>;

const splitList = (v: string | undefined) => v?.split(",").map((x) => x.trim()).filter((x) => x !== "");

function one(positionals: string[], what: string): string {
  if (positionals.length !== 1) throw new UsageError(`expected ${what}`);
  return positionals[0]!;
}

async function readSecretLine(): Promise<string> {
  if (process.stdin.isTTY) throw new UsageError("--tunnel-password-stdin reads the password from a pipe, not a terminal");
  let text = "";
  for await (const chunk of process.stdin) text += String(chunk);
  const line = text.split(/\r?\n/)[0] ?? "";
  if (line === "") throw new UsageError("no password on standard input");
  return line;
}

const commands: Record<string, Handler> = {
  async "user add"({ storage, actor, args }) {
    const { values, positionals } = parseCommandLine({
      args,
      options: {
        admin: { type: "boolean" },
        email: { type: "string" },
        types: { type: "string" },
        transports: { type: "string" },
        mtu: { type: "string" },
        pop: { type: "string" },
        "tunnel-password-stdin": { type: "boolean" },
      },
    });
    const name = one(positionals, "one user name");
    const tunnelPassword = values["tunnel-password-stdin"] ? await readSecretLine() : undefined;
    const { user, tunnelPassword: issued } = await storage.users.create(
      {
        name,
        role: values.admin ? "admin" : "user",
        email: values.email ?? null,
        allowedTypes: splitList(values.types),
        allowedTransports: splitList(values.transports),
        mtu: values.mtu === undefined ? undefined : numberOption("--mtu", values.mtu, 1280, 1280, 1480),
        tunnelPassword,
        pop: values.pop,
      },
      actor,
    );
    process.stdout.write(`created ${user.role} ${user.name}${onPop(user.pop)}\n`);
    if (tunnelPassword === undefined) process.stdout.write(`DTCP password (shown once): ${issued}\n`);
  },

  async "user list"({ storage, args }) {
    const { values } = parseCommandLine({ args, options: { search: { type: "string" }, json: { type: "boolean" } }, allowPositionals: false });
    const users = await storage.users.list(values.search);
    printTable(values.json, users, ["name", "role", "pop", "disabled", "allowedTypes", "allowedTransports", "mtu", "email"]);
  },

  async "user show"({ storage, args }) {
    const { values, positionals } = parseCommandLine({ args, options: { json: { type: "boolean" } } });
    const repo = storage.users;
    const user = await repo.get(one(positionals, "one user name"));
    const delegations = await storage.allocations.list(user.name);
    const pair = await storage.allocations.linkPair(user.id);
    printRecords(values.json, {
      ...user,
      linkPair: pair ? `${pair.clientAddress} ${pair.serverAddress}` : null,
      delegations: delegations.map((d) => d.prefix),
    });
  },

  async "user set"({ storage, actor, args }) {
    const { values, positionals } = parseCommandLine({
      args,
      options: { email: { type: "string" }, types: { type: "string" }, transports: { type: "string" }, mtu: { type: "string" }, pop: { type: "string" } },
    });
    const name = one(positionals, "one user name");
    if (Object.keys(values).length === 0) throw new UsageError("nothing to change: give --email, --types, --transports, --mtu or --pop");
    const user = await storage.users.update(
      name,
      {
        email: values.email === undefined ? undefined : values.email === "" ? null : values.email,
        allowedTypes: splitList(values.types),
        allowedTransports: splitList(values.transports),
        mtu: values.mtu === undefined ? undefined : numberOption("--mtu", values.mtu, 1280, 1280, 1480),
        pop: values.pop,
      },
      actor,
    );
    process.stdout.write(
      `${user.name}${onPop(user.pop)}: types ${user.allowedTypes.join(",")}, transports ${user.allowedTransports.join(",")}, MTU ${user.mtu}` +
        `${user.email ? `, ${user.email}` : ""} (a live session keeps its settings until it reconnects)
`,
    );
  },

  "user disable": (ctx) => setDisabled(ctx, true),
  "user enable": (ctx) => setDisabled(ctx, false),

  async "user remove"({ storage, actor, args }) {
    const { positionals } = parseCommandLine({ args, options: {} });
    const name = one(positionals, "one user name");
    await storage.users.remove(name, actor);
    process.stdout.write(`removed ${name}\n`);
  },

  async "tunnel-password rotate"({ storage, actor, args }) {
    const { values, positionals } = parseCommandLine({ args, options: { "tunnel-password-stdin": { type: "boolean" } } });
    const name = one(positionals, "one user name");
    const given = values["tunnel-password-stdin"] ? await readSecretLine() : undefined;
    const password = await storage.users.rotateTunnelPassword(name, actor, given);
    process.stdout.write(given === undefined ? `new DTCP password of ${name} (shown once): ${password}\n` : `DTCP password of ${name} changed\n`);
  },

  async "pool add"({ storage, actor, args }) {
    const { values, positionals } = parseCommandLine({
      args,
      options: { purpose: { type: "string" }, size: { type: "string" }, auto: { type: "boolean" }, pop: { type: "string" } },
    });
    if (values.purpose === undefined) throw new UsageError("--purpose link|delegation is required");
    const pool = await storage.pools.add(
      {
        cidr: one(positionals, "one prefix, e.g. 2001:db8::/48"),
        purpose: values.purpose,
        prefixLength: values.size === undefined ? undefined : numberOption("--size", values.size, 0, 0, 128),
        autoDelegate: values.auto ?? false,
        pop: values.pop,
      },
      actor,
    );
    process.stdout.write(`added ${pool.purpose} pool ${pool.cidr} handing out /${pool.prefixLength}${pool.autoDelegate ? " (auto-delegate)" : ""}${onPop(pool.pop)}\n`);
  },

  async "pool list"({ storage, args }) {
    const { values } = parseCommandLine({ args, options: { json: { type: "boolean" } }, allowPositionals: false });
    const pools = await storage.pools.list();
    printTable(values.json, pools.map((p) => ({ ...p, size: `/${p.prefixLength}`, used: `${p.used}/${p.capacity}` })), ["cidr", "purpose", "pop", "size", "autoDelegate", "used"]);
  },

  async "pool remove"({ storage, actor, args }) {
    const { positionals } = parseCommandLine({ args, options: {} });
    const cidr = one(positionals, "one pool prefix");
    await storage.pools.remove(cidr, actor);
    process.stdout.write(`removed pool ${cidr}\n`);
  },

  async "pop add"({ storage, actor, args }) {
    const { values, positionals } = parseCommandLine({ args, options: { address: { type: "string" }, "api-url": { type: "string" } } });
    const pop = await storage.pops.add({ name: one(positionals, "one POP name"), publicHost: values.address ?? null, apiUrl: values["api-url"] ?? null }, actor);
    process.stdout.write(`added POP ${pop.name}${pop.publicHost ? ` (clients connect to ${pop.publicHost})` : ""}; start its daemon with dtcps --pop ${pop.name}\n`);
  },

  async "pop set"({ storage, actor, args }) {
    const { values, positionals } = parseCommandLine({ args, options: { address: { type: "string" }, "api-url": { type: "string" } } });
    const name = one(positionals, "one POP name");
    if (Object.keys(values).length === 0) throw new UsageError("nothing to change: give --address or --api-url");
    const cleared = (v: string | undefined) => (v === undefined ? undefined : v === "" ? null : v);
    const pop = await storage.pops.update(name, { publicHost: cleared(values.address), apiUrl: cleared(values["api-url"]) }, actor);
    process.stdout.write(`${pop.name}: clients connect to ${pop.publicHost ?? "the broker's server name"}, live API ${pop.apiUrl ?? "the local daemon's"}\n`);
  },

  async "pop list"({ storage, args }) {
    const { values } = parseCommandLine({ args, options: { json: { type: "boolean" } }, allowPositionals: false });
    const pops = await storage.pops.list();
    printTable(
      values.json,
      pops.map((p) => ({ name: p.name, address: p.publicHost, apiUrl: p.apiUrl, heartbeat: p.heartbeatAt, users: p.users, pools: p.pools, live: p.liveSessions })),
      ["name", "address", "apiUrl", "heartbeat", "users", "pools", "live"],
    );
  },

  async "pop remove"({ storage, actor, args }) {
    const { positionals } = parseCommandLine({ args, options: {} });
    const name = one(positionals, "one POP name");
    await storage.pops.remove(name, actor);
    process.stdout.write(`removed POP ${name}\n`);
  },

  async delegate({ storage, actor, args }) {
    const { values, positionals } = parseCommandLine({ args, options: { pool: { type: "string" } } });
    const user = one(positionals, "one user name");
    const delegation = await storage.allocations.delegate(user, actor, values.pool);
    process.stdout.write(`${delegation.prefix} delegated to ${user}\n`);
  },

  async undelegate({ storage, actor, args }) {
    const { positionals } = parseCommandLine({ args, options: {} });
    if (positionals.length !== 2) throw new UsageError("expected a user name and a prefix");
    await storage.allocations.release(positionals[0]!, positionals[1]!, actor);
    process.stdout.write(`released ${positionals[1]} from ${positionals[0]}\n`);
  },

  async delegations({ storage, args }) {
    const { values } = parseCommandLine({ args, options: { user: { type: "string" }, json: { type: "boolean" } }, allowPositionals: false });
    const rows = await storage.allocations.list(values.user);
    printTable(values.json, rows.map((d) => ({ prefix: d.prefix, user: d.userName, pool: d.pool, since: d.createdAt })), ["prefix", "user", "pool", "since"]);
  },

  async sessions({ storage, args }) {
    const { values } = parseCommandLine({
      args,
      options: { live: { type: "boolean" }, user: { type: "string" }, pop: { type: "string" }, limit: { type: "string" }, json: { type: "boolean" } },
      allowPositionals: false,
    });
    const rows = await storage.sessions.list({
      live: values.live,
      userName: values.user,
      pop: values.pop,
      limit: numberOption("--limit", values.limit, 100, 1, 100_000),
    });
    printTable(
      values.json,
      rows.map((s) => ({
        id: s.id,
        user: s.userName,
        pop: s.pop,
        type: s.type,
        transport: s.transport,
        client: s.clientUdpPort === null ? s.clientIpv4 : `${s.clientIpv4}:${s.clientUdpPort}`,
        started: s.startedAt,
        ended: s.endedAt,
        reason: s.endReason,
        bytesIn: s.bytesIn,
        bytesOut: s.bytesOut,
      })),
      ["id", "user", "pop", "type", "transport", "client", "started", "ended", "reason", "bytesIn", "bytesOut"],
    );
  },

  async "db copy-to"({ storage, args }) {
    const { positionals } = parseCommandLine({ args, options: {} });
    const url = one(positionals, "the URL of the database to copy into");
    const paths = resolvePaths();
    const target = await openStorage(url, { secretKeyFile: paths.secretKeyFile });
    try {
      const { counts } = await copyStorage(storage.db, target.db, target.engine === "postgresql", (line) => process.stdout.write(`${line}\n`));
      const rows = Object.values(counts).reduce((a, b) => a + b, 0);
      process.stdout.write(`copied ${rows} rows; the counts match. Point DATABASE_URL at the new database (the sealing key ${paths.secretKeyFile} stays as it is).\n`);
    } finally {
      await target.close();
    }
  },

  async "secret-key reseal"({ storage, actor, args }) {
    parseCommandLine({ args, options: {}, allowPositionals: false });
    const paths = resolvePaths();
    const users = await storage.users.resealSecrets(actor);
    process.stdout.write(
      `sealed the secrets of ${users} users anew under ${paths.secretKeyFile}` +
        (paths.previousSecretKeyFile ? `; once every POP and the web app run with this key, drop BROKER_PREVIOUS_SECRET_KEY_FILE (${paths.previousSecretKeyFile})\n` : "\n"),
    );
  },

  async audit({ storage, args }) {
    const { values } = parseCommandLine({
      args,
      options: { action: { type: "string" }, limit: { type: "string" }, json: { type: "boolean" } },
      allowPositionals: false,
    });
    const rows = await storage.audit.list({ action: values.action, limit: numberOption("--limit", values.limit, 100, 1, 100_000) });
    printTable(values.json, rows, ["at", "actor", "source", "action", "target", "before", "after"]);
  },
};

/** " on POP x", said only where there is more than the one a single box has. */
const onPop = (pop: string) => (pop === DEFAULT_POP ? "" : ` on POP ${pop}`);

async function setDisabled({ storage, actor, args }: Context, disabled: boolean): Promise<void> {
  const { positionals } = parseCommandLine({ args, options: {} });
  const user = await storage.users.setDisabled(one(positionals, "one user name"), disabled, actor);
  process.stdout.write(`${user.name} ${disabled ? "disabled" : "enabled"}\n`);
}

/** Finds the handler for the leading words ("user add", "pool list", "sessions"). */
function route(argv: string[]): { handler: Handler; args: string[] } {
  for (const words of [2, 1]) {
    const handler = commands[argv.slice(0, words).join(" ")];
    if (handler) return { handler, args: argv.slice(words) };
  }
  throw new UsageError(argv.length === 0 || argv[0] === "help" || argv[0] === "--help" ? USAGE : `unknown command "${argv.slice(0, 2).join(" ")}"\n${USAGE}`);
}

runMain("dtcpctl", async () => {
  const { handler, args } = route(process.argv.slice(2));
  const paths = resolvePaths();
  const storage = await openStorage(paths.databaseUrl, paths);
  try {
    await handler({ storage, actor: { name: `cli:${userInfo().username}` }, args });
  } finally {
    await storage.close();
  }
});
