/**
 * `llm-authz inject-webhook`: the sidecar injection webhook (a Kubernetes mutating admission
 * webhook; deploy/kubernetes/overlays/injector). Stops on SIGTERM/SIGINT.
 */
import type { Command } from './command.ts';
import { parseArgs } from 'node:util';
import { MODES, type Mode } from '../inject/constants.ts';
import { startWebhookServer } from '../inject/server.ts';
import { createLogger } from '../telemetry/log.ts';
import { SERVICE_VERSION } from '../telemetry/version.ts';

/** The Envoy image injected by default: the Envoy version the project tests with (scripts/versions.env). */
export const DEFAULT_ENVOY_IMAGE = 'envoyproxy/envoy:v1.40.0';
export const DEFAULT_AUTHZ_IMAGE = `llm-authz:${SERVICE_VERSION}`;

const USAGE = `usage: llm-authz inject-webhook --tls-cert FILE --tls-key FILE [--listen HOST:PORT]
       [--image IMAGE] [--envoy-image IMAGE] [--default-mode envoy|istio] [--log-level LEVEL]

  --listen        HTTPS listener (default 0.0.0.0:9443); POST /inject, GET /healthz
  --tls-cert/key  the serving certificate and key (PEM), re-read when they change
  --image         the llm-authz image injected (default ${DEFAULT_AUTHZ_IMAGE})
  --envoy-image   the Envoy image injected in envoy mode (default ${DEFAULT_ENVOY_IMAGE})
  --default-mode  envoy: llm-authz + an Envoy egress proxy (default); istio: llm-authz only,
                  for pods whose Istio proxy calls it. Pods carrying Istio's proxy get istio.
`;

function fail(message: string): number {
  process.stderr.write(`llm-authz inject-webhook: ${message}\n${USAGE}`);
  return 2;
}

export const injectWebhookCommand: Command = {
  name: 'inject-webhook',
  usage: 'inject-webhook --tls-cert FILE --tls-key FILE ...',
  summary: 'run the Kubernetes sidecar injection webhook (HTTPS)',
  help: `${USAGE.replace(/^usage: .*\n(\s+\[.*\n)?/, '')}
Exit codes: 0 stopped by a signal, 2 a usage error.`,
  async run(args: string[]): Promise<number> {
    // A flag the parser refuses is a usage error reported by the command line (src/cli/main.ts).
    const { values } = parseArgs({
      args,
      options: {
        listen: { type: 'string', default: '0.0.0.0:9443' },
        'tls-cert': { type: 'string' },
        'tls-key': { type: 'string' },
        image: { type: 'string', default: DEFAULT_AUTHZ_IMAGE },
        'envoy-image': { type: 'string', default: DEFAULT_ENVOY_IMAGE },
        'default-mode': { type: 'string', default: 'envoy' },
        'log-level': { type: 'string', default: 'info' },
        help: { type: 'boolean', short: 'h' },
      },
      strict: true,
    });
    if (values.help === true) {
      process.stdout.write(USAGE);
      return 0;
    }
    const cert = values['tls-cert'];
    const key = values['tls-key'];
    if (cert === undefined || key === undefined) return fail('--tls-cert and --tls-key are required');
    const m = /^(\[[0-9a-fA-F:]+\]|[A-Za-z0-9.-]+):(\d{1,5})$/.exec(values.listen);
    if (m === null) return fail(`--listen: expected HOST:PORT, got '${values.listen}'`);
    const mode = values['default-mode'];
    if (!(MODES as readonly string[]).includes(mode)) return fail(`--default-mode: expected ${MODES.join(' or ')}, got '${mode}'`);
    if (!['debug', 'info', 'warn', 'error'].includes(values['log-level'])) return fail(`--log-level: expected debug, info, warn or error`);

    const log = createLogger(values['log-level']);
    const injector = { authzImage: values.image, envoyImage: values['envoy-image'], defaultMode: mode as Mode, version: SERVICE_VERSION };
    let server: Awaited<ReturnType<typeof startWebhookServer>>;
    try {
      server = await startWebhookServer({ host: (m[1] ?? '').replace(/^\[|\]$/g, ''), port: Number(m[2]), tls: { cert, key }, injector, log });
    } catch (err) {
      log.fatal({ problem: err instanceof Error ? err.message : String(err) }, 'inject-webhook cannot start');
      log.flush();
      return 2;
    }
    log.info({ listen: values.listen, port: server.port, default_mode: mode, image: injector.authzImage, envoy_image: injector.envoyImage }, 'inject-webhook serving');
    return await new Promise<number>((resolve) => {
      const stop = (signal: string): void => {
        log.info({ signal }, 'inject-webhook stopping');
        void server.close().then(() => {
          log.flush();
          resolve(0);
        });
      };
      process.once('SIGTERM', () => stop('SIGTERM'));
      process.once('SIGINT', () => stop('SIGINT'));
    });
  },
};
