/** The llm-authz command line: one file per command, registered here. */
import { checkCommand } from './check.ts';
import { serveCommand } from './serve.ts';
import { keysCommand } from './keys.ts';
import { testCommand } from './test.ts';
import { revocationsCommand } from './revocations.ts';
import { inventoryCommand } from './inventory.ts';

export interface Command {
  /** One usage line, e.g. `serve [--config FILE] [--listen HOST:PORT]`. */
  readonly usage: string;
  readonly summary: string;
  run(args: string[]): Promise<number>;
}

const COMMANDS: Readonly<Record<string, Command>> = {
  serve: serveCommand,
  keys: keysCommand,
  check: checkCommand,
  test: testCommand,
  revocations: revocationsCommand,
  inventory: inventoryCommand,
};

function usage(): string {
  const lines = Object.values(COMMANDS).map((c) => `  ${c.usage.padEnd(48)} ${c.summary}`);
  return `usage: llm-authz <command> [options]\n\ncommands:\n${lines.join('\n')}\n  ${'help'.padEnd(48)} this text\n`;
}

export async function main(argv: string[]): Promise<number> {
  const [name, ...rest] = argv;
  if (name === undefined || name === 'help' || name === '--help' || name === '-h') {
    process.stdout.write(usage());
    return name === undefined ? 2 : 0;
  }
  const command = COMMANDS[name];
  if (command === undefined) {
    process.stderr.write(`llm-authz: unknown command '${name}'\n${usage()}`);
    return 2;
  }
  return command.run(rest);
}
