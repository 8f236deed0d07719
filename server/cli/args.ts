import { parseArgs, type ParseArgsConfig } from "node:util";
import { DomainError } from "../domain/errors.ts";
import { printable } from "../log.ts";

/** Bad command-line input: one line on stderr and exit code 2. */
export class UsageError extends Error {}

export function parseCommandLine<T extends ParseArgsConfig>(config: T) {
  try {
    return parseArgs({ ...config, strict: true, allowPositionals: config.allowPositionals ?? true });
  } catch (err) {
    throw new UsageError((err as Error).message);
  }
}

/** A number option: a decimal within [min, max]. */
export function numberOption(name: string, value: string | undefined, fallback: number, min: number, max: number): number {
  if (value === undefined) return fallback;
  const n = Number(value);
  if (value.trim() === "" || !Number.isFinite(n) || n < min || n > max) {
    throw new UsageError(`${name} must be a number from ${min} to ${max}; got "${value}"`);
  }
  return n;
}

/** Runs a CLI's main: usage and domain errors exit 2 with one line, anything else exits 1. */
/** `stamped`: a long-running program, whose last line carries a timestamp as its log lines do (a usage error does not). */
export function runMain(program: string, main: () => Promise<number | void>, options: { stamped?: boolean } = {}): void {
  const stamp = () => (options.stamped ? `${new Date().toISOString()} ` : "");
  main().then(
    (code) => {
      process.exitCode = code ?? 0;
    },
    (err: unknown) => {
      if (err instanceof UsageError) {
        process.stderr.write(`${program}: ${err.message}\n`);
        process.exitCode = 2;
      } else if (err instanceof DomainError) {
        process.stderr.write(`${stamp()}${program}: ${err.message}\n`);
        process.exitCode = 2;
      } else {
        // Messages of this kind may quote a peer (a server's -ERR line).
        process.stderr.write(`${stamp()}${program}: ${printable(err instanceof Error ? err.message : String(err))}\n`);
        process.exitCode = 1;
      }
    },
  );
}
