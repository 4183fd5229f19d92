/**
 * The latency authorization adds through the real Envoy: the same HTTP request at fixed rates
 * (paced by vegeta) to three Envoys that differ only in ext_authz: disabled on the virtual
 * host, pointed at the floor (a no-op server answering with the routing header), and pointed
 * at llm-authz. "floor - off" is what any gRPC ext_authz hop costs on this machine; "llm-authz
 * - off" is what llm-authz adds.
 */
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { startAuthz } from '../devstack/authz.ts';
import { renderEnvoyConfig, startEnvoy, type EnvoyPorts, type EnvoyProcess } from '../devstack/envoy.ts';
import { startMockProvider } from '../devstack/mock-provider.ts';
import type { LoadResult } from './h2load.ts';
import { startFloor } from './servers.ts';
import { benchCheckRequest } from './setup.ts';
import { vegeta } from './vegeta.ts';

export const ENVOY_VARIANTS = ['off', 'floor', 'llm-authz'] as const;
export type EnvoyVariant = (typeof ENVOY_VARIANTS)[number];

export interface EnvoyPoint {
  readonly rate: number;
  readonly results: Record<EnvoyVariant, LoadResult>;
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
  const floor = await startFloor(o.workDir, 'openai');
  const body = (benchCheckRequest(2048, o.jwt)['attributes'] as { request: { http: { raw_body: Buffer } } }).request.http.raw_body;
  const bodyFile = path.join(o.workDir, 'http-body-2k.json');
  writeFileSync(bodyFile, body);
  const params = (authzPort: number, ports: EnvoyPorts): Record<string, string | number> => ({
    LISTEN_ADDRESS: '127.0.0.1', LISTEN_PORT: ports.listen, ADMIN_ADDRESS: '127.0.0.1', ADMIN_PORT: ports.admin,
    AUTHZ_ADDRESS: '127.0.0.1', AUTHZ_PORT: authzPort, OPENAI_ADDRESS: '127.0.0.1', OPENAI_PORT: openai.port,
    ANTHROPIC_ADDRESS: '127.0.0.1', ANTHROPIC_PORT: anthropic.port, GEMINI_ADDRESS: '127.0.0.1', GEMINI_PORT: anthropic.port,
    AZURE_OPENAI_ADDRESS: '127.0.0.1', AZURE_OPENAI_PORT: openai.port, BEDROCK_ADDRESS: '127.0.0.1', BEDROCK_PORT: openai.port,
    VERTEX_AI_ADDRESS: '127.0.0.1', VERTEX_AI_PORT: openai.port, OTLP_ADDRESS: '127.0.0.1', OTLP_PORT: o.otlpPort,
    MAX_REQUEST_BYTES: 1048576, ACCESS_LOG_PATH: path.join(o.workDir, 'access.log'),
  });
  const points: EnvoyPoint[] = [];
  const envoys: EnvoyProcess[] = [];
  try {
    const urls = {} as Record<EnvoyVariant, string>;
    for (const v of ENVOY_VARIANTS) {
      const render = (ports: EnvoyPorts): string => {
        const text = renderEnvoyConfig('envoy/gateway.yaml', params(v === 'floor' ? floor.port : authz.port, ports));
        return v === 'off' ? withoutAuthz(text) : text;
      };
      const envoy = await startEnvoy({ render, workDir: o.workDir, name: `envoy-${v}` });
      urls[v] = `http://127.0.0.1:${envoy.ports.listen}/v1/chat/completions`;
      envoys.push(envoy);
    }
    const run = (v: EnvoyVariant, rate: number, durationS: number): Promise<LoadResult> =>
      vegeta({
        url: urls[v],
        dataFile: bodyFile,
        headers: ['content-type: application/json', `authorization: Bearer ${o.jwt}`, 'x-llm-authz-route: openai'],
        rate,
        durationS,
        h2c: false,
        workDir: o.workDir,
      });
    for (const v of ENVOY_VARIANTS) {
      const warm = await run(v, 500, 2);
      if (warm.errors > 0) throw new Error(`Envoy with ext_authz ${v}: ${warm.errors} of ${warm.requests} warm-up requests failed`);
    }
    for (const rate of o.rates) {
      o.log(`  ${rate}/s: ext_authz ${ENVOY_VARIANTS.join(', ')}`);
      const results = {} as Record<EnvoyVariant, LoadResult>;
      for (const v of ENVOY_VARIANTS) {
        results[v] = await run(v, rate, o.durationS);
        if (results[v].errors > 0) o.log(`  errors with ext_authz ${v}: ${results[v].errors}`);
      }
      points.push({ rate, results });
    }
  } finally {
    for (const e of envoys) await e.stop();
    await floor.stop();
    await authz.stop();
    await openai.close();
    await anthropic.close();
  }
  return points;
}
