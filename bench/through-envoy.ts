/**
 * The latency authorization adds through the real Envoy: the same HTTP request at fixed
 * rates, with the ext_authz filter disabled and enabled (same Envoy config otherwise).
 */
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { startAuthz } from '../src/devstack/authz.ts';
import { renderEnvoyConfig, startEnvoy } from '../src/devstack/envoy.ts';
import { startMockProvider } from '../src/devstack/mock-provider.ts';
import { freePort } from '../src/devstack/ports.ts';
import { h2load, type LoadResult } from './h2load.ts';
import { benchCheckRequest } from './setup.ts';

export interface EnvoyPoint {
  readonly rate: number;
  readonly off: LoadResult;
  readonly on: LoadResult;
}

/** Disables ext_authz for the whole virtual host: Envoy then routes on the client's header. */
function withoutAuthz(config: string): string {
  const marker = '              request_headers_to_remove: ["x-llm-authz-route"]';
  if (!config.includes(marker)) throw new Error('the Envoy template changed: cannot find the virtual host to disable ext_authz on');
  return config.replace(
    marker,
    `              typed_per_filter_config:
                envoy.filters.http.ext_authz:
                  "@type": type.googleapis.com/envoy.extensions.filters.http.ext_authz.v3.ExtAuthzPerRoute
                  disabled: true
${marker}`,
  );
}

export async function benchEnvoyScenario(o: { workDir: string; config: string; env: NodeJS.ProcessEnv; jwt: string; otlpPort: number; rates: readonly number[]; durationS: number; log: (m: string) => void }): Promise<EnvoyPoint[]> {
  const openai = await startMockProvider('openai');
  const anthropic = await startMockProvider('anthropic');
  const authz = await startAuthz({ config: o.config, workDir: o.workDir, env: o.env, name: 'llm-authz-envoy' });
  const body = (benchCheckRequest(2048, o.jwt)['attributes'] as { request: { http: { raw_body: Buffer } } }).request.http.raw_body;
  const bodyFile = path.join(o.workDir, 'http-body-2k.json');
  writeFileSync(bodyFile, body);
  const params = async (): Promise<Record<string, string | number>> => ({
    LISTEN_ADDRESS: '127.0.0.1', LISTEN_PORT: await freePort(), ADMIN_ADDRESS: '127.0.0.1', ADMIN_PORT: await freePort(),
    AUTHZ_ADDRESS: '127.0.0.1', AUTHZ_PORT: authz.port, OPENAI_ADDRESS: '127.0.0.1', OPENAI_PORT: openai.port,
    ANTHROPIC_ADDRESS: '127.0.0.1', ANTHROPIC_PORT: anthropic.port, GEMINI_ADDRESS: '127.0.0.1', GEMINI_PORT: anthropic.port,
    AZURE_OPENAI_ADDRESS: '127.0.0.1', AZURE_OPENAI_PORT: openai.port, OTLP_ADDRESS: '127.0.0.1', OTLP_PORT: o.otlpPort,
    MAX_REQUEST_BYTES: 1048576, ACCESS_LOG_PATH: path.join(o.workDir, 'access.log'),
  });
  const points: EnvoyPoint[] = [];
  try {
    const variants: Record<'off' | 'on', { url: string; stop: () => Promise<unknown> }> = {} as never;
    for (const v of ['off', 'on'] as const) {
      const p = await params();
      const text = renderEnvoyConfig('envoy/gateway.yaml', p);
      const envoy = await startEnvoy({ configText: v === 'off' ? withoutAuthz(text) : text, workDir: o.workDir, adminPort: Number(p['ADMIN_PORT']), name: `envoy-${v}` });
      variants[v] = { url: `http://127.0.0.1:${p['LISTEN_PORT']}/v1/chat/completions`, stop: () => envoy.stop() };
    }
    const run = (v: 'off' | 'on', rate: number, durationS: number): Promise<LoadResult> =>
      h2load({
        url: variants[v].url,
        dataFile: bodyFile,
        headers: ['content-type: application/json', `authorization: Bearer ${o.jwt}`, 'x-llm-authz-route: openai'],
        clients: 4,
        streams: 1,
        h1: true,
        rate,
        durationS,
        workDir: o.workDir,
      });
    for (const v of ['off', 'on'] as const) await run(v, 200, 1); // warm-up
    for (const rate of o.rates) {
      o.log(`  ${rate}/s: ext_authz off, then on`);
      const off = await run('off', rate, o.durationS);
      const on = await run('on', rate, o.durationS);
      if (on.errors > 0 || off.errors > 0) o.log(`  errors: off ${off.errors}, on ${on.errors}`);
      points.push({ rate, off, on });
    }
    await variants.off.stop();
    await variants.on.stop();
  } finally {
    await authz.stop();
    await openai.close();
    await anthropic.close();
  }
  return points;
}
