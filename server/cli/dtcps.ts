import { startDaemon } from "../daemon.ts";
import { followLauncher } from "../launch/lifeline.ts";
import { consoleLogger } from "../log.ts";
import { runMain } from "./args.ts";
import { parseDtcpsArgs } from "./dtcps-args.ts";

runMain("dtcps", async () => {
  const config = parseDtcpsArgs(process.argv.slice(2));
  const log = consoleLogger(config.verbose);
  const daemon = await startDaemon(config, log);
  await new Promise<void>((resolve) => {
    const stop = (signal: string) => {
      log.info(`${signal}: closing sessions and stopping`);
      daemon.stop().then(resolve, (err: unknown) => {
        log.warn(`stopping failed: ${(err as Error).message}`);
        resolve();
      });
    };
    process.once("SIGTERM", () => stop("SIGTERM"));
    process.once("SIGINT", () => stop("SIGINT"));
    followLauncher();
  });
}, { stamped: true });
