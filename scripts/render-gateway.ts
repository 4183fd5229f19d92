/**
 * Renders an Envoy gateway template with only the providers it names, and tracing and the access
 * log when wanted; the parameters (`${NAME}`) come from the environment, as envsubst reads them,
 * and only those of the parts kept need a value.
 *   OPENAI_ADDRESS=api.openai.com OPENAI_PORT=443 ... \
 *     node scripts/render-gateway.ts --template envoy/gateway-tls.yaml --providers openai --no-tracing --no-access-log > envoy.yaml
 * Usage errors exit 2, with the missing parameters or the unknown provider named.
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { renderTemplate } from '../devstack/envoy.ts';
import { selectGatewayParts, templateProviders } from '../devstack/envoy-sections.ts';
import { ROOT } from '../devstack/tools.ts';

const USAGE = `usage: node scripts/render-gateway.ts [--template FILE] [--providers NAME,...] [--no-tracing] [--no-access-log]
  --template FILE     envoy/gateway.yaml (default), envoy/gateway-tls.yaml or envoy/gateway-tls-authz.yaml
  --providers LIST    the providers to route to (default: all the template has)
  --no-tracing        no OpenTelemetry tracing (no OTLP_ADDRESS, OTLP_PORT needed)
  --no-access-log     no access log (no ACCESS_LOG_PATH needed)
Parameters are read from the environment; the rendered config goes to stdout.
`;

const OPTIONS = {
  template: { type: 'string', default: 'envoy/gateway.yaml' },
  providers: { type: 'string' },
  'no-tracing': { type: 'boolean', default: false },
  'no-access-log': { type: 'boolean', default: false },
  help: { type: 'boolean', default: false },
} as const;

function main(argv: readonly string[]): number {
  let values: ReturnType<typeof parseArgs<{ options: typeof OPTIONS; strict: true; allowPositionals: false }>>['values'];
  try {
    ({ values } = parseArgs({ args: [...argv], options: OPTIONS, strict: true, allowPositionals: false }));
  } catch (err) {
    process.stderr.write(`render-gateway: ${err instanceof Error ? err.message : String(err)}\n${USAGE}`);
    return 2;
  }
  if (values.help) {
    process.stdout.write(USAGE);
    return 0;
  }
  try {
    const text = readFileSync(path.resolve(ROOT, values.template), 'utf8');
    const providers =
      values.providers === undefined
        ? templateProviders(text)
        : values.providers
            .split(',')
            .map((p) => p.trim())
            .filter((p) => p !== '');
    if (providers.length === 0) throw new Error('--providers names no provider');
    const selected = selectGatewayParts(text, { providers, tracing: !values['no-tracing'], accessLog: !values['no-access-log'] });
    const params: Record<string, string> = {};
    for (const [k, v] of Object.entries(process.env)) if (v !== undefined) params[k] = v;
    process.stdout.write(renderTemplate(selected, params));
    return 0;
  } catch (err) {
    process.stderr.write(`render-gateway: ${err instanceof Error ? err.message : String(err)}\n`);
    return 2;
  }
}

process.exitCode = main(process.argv.slice(2));
