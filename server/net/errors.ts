/**
 * The one error type for malformed or out-of-range addresses and prefixes.
 * Messages are shown verbatim in the web UI and CLI, so they name the
 * offending input and say what is wrong in plain words.
 */
export class AddressError extends Error {
  override readonly name = 'AddressError';
}

const MAX_QUOTED = 64;

/**
 * Quotes user input for an error message: escaped (control characters and
 * quotes cannot break the message) and shortened (a megabyte of garbage
 * should not become a megabyte of error).
 */
export function quote(input: string): string {
  const short = input.length > MAX_QUOTED ? `${input.slice(0, MAX_QUOTED)}…` : input;
  return JSON.stringify(short);
}
