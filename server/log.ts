/** Line-oriented logging to stdout/stderr. Never pass a password or a response hash. */
export interface Logger {
  info(message: string): void;
  warn(message: string): void;
  debug(message: string): void;
}

export function consoleLogger(verbose: boolean): Logger {
  const stamp = () => new Date().toISOString();
  return {
    info: (m) => process.stdout.write(`${stamp()} ${m}\n`),
    warn: (m) => process.stderr.write(`${stamp()} warning: ${m}\n`),
    debug: verbose ? (m) => process.stdout.write(`${stamp()} debug: ${m}\n`) : () => {},
  };
}

export const silentLogger: Logger = { info: () => {}, warn: () => {}, debug: () => {} };

/** A peer's text for a log line: quoted, and cut at `max` characters (how many more there were is said). */
export function peerText(text: string, max = 64): string {
  return text.length <= max ? JSON.stringify(text) : `${JSON.stringify(text.slice(0, max))}… (${text.length} characters)`;
}
