/**
 * What every command is, and the conventions all of them follow (as `opa` and `kubectl` do):
 * `--help`/`-h` and `help <command>` print the help on stdout and exit 0; a usage error (an
 * unknown flag, a missing argument) prints one short line on stderr and exits 2, distinct from
 * a command's own outcomes (check: 0 allow, 1 deny; test: 0 pass, 1 a case failed); results go
 * to stdout, errors to stderr.
 */

export interface Command {
  readonly name: string;
  /** One usage line, e.g. `serve [--config FILE] [--listen HOST:PORT]`. */
  readonly usage: string;
  readonly summary: string;
  /** The full help (flags, exit codes); the usage line alone when absent. */
  readonly help?: string;
  run(args: string[]): Promise<number>;
}

/** A mistake in how a command was called: exit 2 with one line. */
export class UsageError extends Error {
  override readonly name = 'UsageError';
}

/** A command's input that cannot be used (a bad store file, an unknown id): exit 2 with one line, no usage. */
export class InputError extends Error {
  override readonly name = 'InputError';
}

/** Exit codes shared by every command. */
export const EXIT_USAGE = 2;

export function helpText(c: Command): string {
  return `usage: llm-authz ${c.usage}\n\n${c.summary}\n${c.help === undefined ? '' : `\n${c.help.trimEnd()}\n`}`;
}

/** node:util parseArgs's own errors (unknown option, missing value, unexpected argument). */
export function isParseArgsError(err: unknown): err is Error & { code: string } {
  return err instanceof TypeError && 'code' in err && typeof err.code === 'string' && err.code.startsWith('ERR_PARSE_ARGS');
}

/** `--help` or `-h` anywhere before a `--`. */
export function wantsHelp(args: readonly string[]): boolean {
  for (const a of args) {
    if (a === '--') return false;
    if (a === '--help' || a === '-h') return true;
  }
  return false;
}
