/** The llm-authz command line. */
import { parseArgs } from 'node:util';
import { serve } from './serve.ts';

const USAGE = `usage: llm-authz <command> [options]

commands:
  serve [--config FILE] [--listen HOST:PORT]   run the ext_authz gRPC server (default 127.0.0.1:9001)
  help                                         this text
`;

export async function main(argv: string[]): Promise<number> {
  const [command, ...rest] = argv;
  switch (command) {
    case 'serve': {
      const { values } = parseArgs({
        args: rest,
        options: { config: { type: 'string', short: 'c' }, listen: { type: 'string', short: 'l' } },
        strict: true,
      });
      return serve({ config: values.config, listen: values.listen });
    }
    case undefined:
    case 'help':
    case '--help':
    case '-h':
      process.stdout.write(USAGE);
      return command === undefined ? 2 : 0;
    default:
      process.stderr.write(`llm-authz: unknown command '${command}'\n${USAGE}`);
      return 2;
  }
}
