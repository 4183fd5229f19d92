/** The llm-authz command line: one file per command, registered here; the conventions in command.ts. */
import { checkCommand } from './check.ts';
import { EXIT_USAGE, helpText, InputError, isParseArgsError, UsageError, wantsHelp, type Command } from './command.ts';
import { keysCommand } from './keys.ts';
import { serveCommand } from './serve.ts';
import { testCommand } from './test.ts';
import { validateCommand } from './validate.ts';
import { healthCommand } from './health.ts';
import { injectWebhookCommand } from './inject-webhook.ts';
import { revocationsCommand } from './revocations.ts';
import { inventoryCommand } from './inventory.ts';
import { SERVICE_VERSION } from '../telemetry/version.ts';

const COMMANDS: readonly Command[] = [
  serveCommand,
  validateCommand,
  checkCommand,
  testCommand,
  keysCommand,
  revocationsCommand,
  inventoryCommand,
  healthCommand,
  injectWebhookCommand,
];

function usage(): string {
  const lines = COMMANDS.map((c) => `  ${c.name.padEnd(10)} ${c.summary}`);
  return [
    'usage: llm-authz <command> [options]',
    '',
    'commands:',
    ...lines,
    `  ${'help'.padEnd(10)} this text; 'llm-authz help COMMAND' (or 'llm-authz COMMAND --help') for a command's options`,
    `  ${'version'.padEnd(10)} the version (also: --version)`,
    '',
    'Exit codes: 0 ok (check: allow), 1 the outcome was negative (check: deny; test: a case failed),',
    '2 a usage or config error.',
    '',
  ].join('\n');
}

export async function main(argv: string[], out: NodeJS.WritableStream = process.stdout, err: NodeJS.WritableStream = process.stderr): Promise<number> {
  const [name, ...rest] = argv;
  if (name === undefined) {
    err.write(usage());
    return EXIT_USAGE;
  }
  if (name === 'help' || name === '--help' || name === '-h') {
    const topic = rest[0];
    if (topic === undefined) {
      out.write(usage());
      return 0;
    }
    const c = COMMANDS.find((x) => x.name === topic);
    if (c === undefined) {
      err.write(`llm-authz: no help for '${topic}': unknown command (see 'llm-authz help')\n`);
      return EXIT_USAGE;
    }
    out.write(helpText(c));
    return 0;
  }
  if (name === 'version' || name === '--version') {
    out.write(`llm-authz ${SERVICE_VERSION}\n`);
    return 0;
  }
  const command = COMMANDS.find((x) => x.name === name);
  if (command === undefined) {
    err.write(`llm-authz: unknown command '${name}' (see 'llm-authz help')\n`);
    return EXIT_USAGE;
  }
  if (wantsHelp(rest)) {
    out.write(helpText(command));
    return 0;
  }
  try {
    return await command.run(rest);
  } catch (e) {
    if (e instanceof UsageError || isParseArgsError(e)) {
      err.write(`llm-authz ${command.name}: ${e.message} (see 'llm-authz ${command.name} --help')\n`);
      return EXIT_USAGE;
    }
    if (e instanceof InputError) {
      err.write(`llm-authz ${command.name}: ${e.message}\n`);
      return EXIT_USAGE;
    }
    throw e;
  }
}
