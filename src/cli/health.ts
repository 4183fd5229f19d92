/**
 * `llm-authz health [--address HOST:PORT] [--service NAME]`: asks a running llm-authz's
 * grpc.health.v1 service (plaintext: its health_listen, or a plaintext Check listener) and exits
 * 0 when it answers SERVING, 1 otherwise. The container image's HEALTHCHECK runs it.
 */
import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';
import { protoPath } from 'grpc-health-check';
import { parseArgs } from 'node:util';
import { PROTO_LOADER_OPTIONS } from '../envoy/proto.ts';
import type { Command } from './command.ts';

type HealthClient = grpc.Client & {
  Check(req: { service: string }, md: grpc.Metadata, opts: grpc.CallOptions, cb: (err: grpc.ServiceError | null, res?: { status?: string }) => void): void;
};

export function healthStatus(address: string, service: string, timeoutMs: number): Promise<string> {
  const def = protoLoader.loadSync(protoPath, PROTO_LOADER_OPTIONS)['grpc.health.v1.Health'] as grpc.ServiceDefinition;
  const Client = grpc.makeGenericClientConstructor(def, 'Health');
  const client = new Client(address, grpc.credentials.createInsecure()) as unknown as HealthClient;
  return new Promise((resolve, reject) => {
    client.Check({ service }, new grpc.Metadata(), { deadline: new Date(Date.now() + timeoutMs) }, (err, res) => {
      client.close();
      if (err) reject(err);
      else resolve(String(res?.status ?? 'UNKNOWN'));
    });
  });
}

export const healthCommand: Command = {
  name: 'health',
  usage: 'health [--address HOST:PORT] [--service NAME] [--timeout-ms N]',
  summary: 'exit 0 when a running llm-authz reports SERVING (gRPC health)',
  help: `options:
      --address HOST:PORT  the plaintext listener to ask (default 127.0.0.1:9001; with server.tls on,
                           its server.health_listen)
      --service NAME       the health service name (default '': the whole server)
      --timeout-ms N       how long to wait for the answer (default 2000)

Prints the status (SERVING, NOT_SERVING, or NOT_REACHABLE).
Exit codes: 0 SERVING, 1 anything else, 2 a usage error.`,
  async run(args: string[]): Promise<number> {
    // A flag the parser refuses is a usage error reported by the command line (src/cli/main.ts).
    const { values } = parseArgs({
      args,
      options: { address: { type: 'string', default: '127.0.0.1:9001' }, service: { type: 'string', default: '' }, 'timeout-ms': { type: 'string', default: '2000' } },
      strict: true,
    });
    const timeout = Number(values['timeout-ms']);
    if (!Number.isInteger(timeout) || timeout < 1 || timeout > 60_000) {
      process.stderr.write('llm-authz health: --timeout-ms: expected 1-60000\n');
      return 2;
    }
    try {
      const status = await healthStatus(values.address, values.service, timeout);
      process.stdout.write(`${status}\n`);
      return status === 'SERVING' ? 0 : 1;
    } catch (err) {
      const e = err as grpc.ServiceError;
      process.stdout.write(`NOT_REACHABLE (${grpc.status[e.code] ?? 'error'})\n`);
      return 1;
    }
  },
};
