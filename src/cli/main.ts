/** The llm-authz command line: one file per command, registered here; the conventions in command.ts. */
import { EXIT_USAGE, helpText, InputError, isParseArgsError, UsageError, wantsHelp, type Command } from './command.ts';
import { SERVICE_VERSION } from '../telemetry/version.ts';

/**
 * Each command's module is loaded when that command runs: `serve` does not carry the other
 * commands' code (the webhook, the inventory, key management) in its idle memory.
 */
const COMMANDS: readonly { readonly name: string; load(): Promise<Command> }[] = [
  { name: 'serve', load: async () => (await import('./serve.ts')).serveCommand },
  { name: 'validate', load: async () => (await import('./validate.ts')).validateCommand },
  { name: 'check', load: async () => (await import('./check.ts')).checkCommand },
  { name: 'test', load: async () => (await import('./test.ts')).testCommand },
  { name: 'keys', load: async () => (await import('./keys.ts')).keysCommand },
  { name: 'revocations', load: async () => (await import('./revocations.ts')).revocationsCommand },
  { name: 'inventory', load: async () => (await import('./inventory.ts')).inventoryCommand },
  { name: 'health', load: async () => (await import('./health.ts')).healthCommand },
  { name: 'inject-webhook', load: async () => (await import('./inject-webhook.ts')).injectWebhookCommand },
];

async function usage(): Promise<string> {
  const commands = await Promise.all(COMMANDS.map((c) => c.load()));
  const lines = commands.map((c) => `  ${c.name.padEnd(10)} ${c.summary}`);
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
    err.write(await usage());
    return EXIT_USAGE;
  }
  if (name === 'help' || name === '--help' || name === '-h') {
    const topic = rest[0];
    if (topic === undefined) {
      out.write(await usage());
      return 0;
    }
    const c = await COMMANDS.find((x) => x.name === topic)?.load();
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
  const command = await COMMANDS.find((x) => x.name === name)?.load();
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
