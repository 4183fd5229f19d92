/**
 * The node:http2 prototype behind the real Envoy (envoy/gateway.yaml, ext_proc off: the prototype
 * does not serve it): Envoy's own ext_authz gRPC client calls it. For each decoder: Envoy's health
 * check finds the llm_authz host HEALTHY; an allowed request (JWT, allowed model) reaches the mock
 * provider with the provider key llm-authz attached; a request without a credential is denied 401
 * and one for a model the workload may not use 403, neither reaching the provider; Envoy counts
 * ext_authz OKs and denials and no errors. Exits 1 on the first mismatch.
 *   node bench/proto-h2/envoy-check.ts
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { renderEnvoyConfig, startEnvoy, type EnvoyPorts } from '../../devstack/envoy.ts';
import { startMockProvider } from '../../devstack/mock-provider.ts';
import { waitFor } from '../../devstack/ports.ts';
import { startOtlpSink } from '../servers.ts';
import { BENCH_ENV, PROVIDER_KEY, prepareBenchFiles } from '../setup.ts';
import { withoutOutcomes } from '../through-envoy.ts';
import { buildPrototype, startVariant, type Variant } from './variants.ts';

async function main(): Promise<void> {
  buildPrototype();
  const workDir = mkdtempSync(path.join(os.tmpdir(), 'llm-authz-proto-h2-envoy-'));
  const sink = await startOtlpSink(workDir);
  const openai = await startMockProvider('openai');
  const anthropic = await startMockProvider('anthropic');
  try {
    const files = await prepareBenchFiles(workDir, sink.port);
    for (const v of ['h2 llm-authz', 'h2 llm-authz lean'] as Variant[]) {
      const authz = await startVariant(v, { workDir, config: files.config, env: BENCH_ENV });
      const render = (ports: EnvoyPorts): string =>
        withoutOutcomes(
          renderEnvoyConfig('envoy/gateway.yaml', {
            LISTEN_ADDRESS: '127.0.0.1',
            LISTEN_PORT: ports.listen,
            ADMIN_ADDRESS: '127.0.0.1',
            ADMIN_PORT: ports.admin,
            AUTHZ_ADDRESS: '127.0.0.1',
            AUTHZ_PORT: authz.port,
            OPENAI_ADDRESS: '127.0.0.1',
            OPENAI_PORT: openai.port,
            ANTHROPIC_ADDRESS: '127.0.0.1',
            ANTHROPIC_PORT: anthropic.port,
            GEMINI_ADDRESS: '127.0.0.1',
            GEMINI_PORT: anthropic.port,
            AZURE_OPENAI_ADDRESS: '127.0.0.1',
            AZURE_OPENAI_PORT: openai.port,
            BEDROCK_ADDRESS: '127.0.0.1',
            BEDROCK_PORT: openai.port,
            VERTEX_AI_ADDRESS: '127.0.0.1',
            VERTEX_AI_PORT: openai.port,
            OTLP_ADDRESS: '127.0.0.1',
            OTLP_PORT: sink.port,
            MAX_REQUEST_BYTES: 1048576,
            ACCESS_LOG_PATH: path.join(workDir, 'access.log'),
          }),
        );
      const envoy = await startEnvoy({ render, workDir, name: `envoy-${v.replaceAll(' ', '-')}` });
      try {
        await waitFor('the llm_authz host HEALTHY', async () => (await envoy.clusterHealth('llm_authz')).every((h) => h === 'HEALTHY') || undefined, 20_000, 200);
        const url = `http://127.0.0.1:${envoy.ports.listen}/v1/chat/completions`;
        const post = (headers: Record<string, string>, model: string): Promise<Response> =>
          fetch(url, { method: 'POST', headers: { 'content-type': 'application/json', ...headers }, body: JSON.stringify({ model, messages: [{ role: 'user', content: 'hi' }] }) });
        const before = openai.requests.length;
        const allowed = await post({ authorization: `Bearer ${files.jwt}` }, 'gpt-4o-mini');
        const allowedBody = await allowed.text();
        assert.equal(allowed.status, 200, `allowed request: ${allowed.status} ${allowedBody.slice(0, 200)}`);
        assert.equal(openai.requests.length, before + 1);
        assert.equal(openai.requests.at(-1)?.headers['authorization'], `Bearer ${PROVIDER_KEY}`);
        const noCredential = await post({}, 'gpt-4o-mini');
        assert.equal(noCredential.status, 401, `no credential: ${noCredential.status}`);
        const wrongModel = await post({ authorization: `Bearer ${files.jwt}` }, 'model-0-a');
        assert.equal(wrongModel.status, 403, `model not allowed: ${wrongModel.status}`);
        const denyBody = await wrongModel.text();
        assert.equal(openai.requests.length, before + 1, 'a denied request reached the provider');
        const stats = await envoy.admin('/stats?filter=ext_authz\\.');
        const stat = (name: string): number => Number(new RegExp(`ext_authz\\.${name}: (\\d+)`).exec(stats)?.[1] ?? 0);
        assert.equal(stat('ok'), 1);
        assert.equal(stat('denied'), 2);
        assert.equal(stat('error'), 0);
        process.stdout.write(
          `${v} behind Envoy: host HEALTHY; allowed 200 at the provider with the provider key; no credential 401; model not allowed 403 (${denyBody.slice(0, 80)}); ext_authz.ok 1, denied 2, error 0\n`,
        );
      } finally {
        await envoy.stop();
        await authz.stop();
      }
    }
  } finally {
    await openai.close();
    await anthropic.close();
    await sink.stop();
    rmSync(workDir, { recursive: true, force: true });
  }
}

main().catch((err: unknown) => {
  process.stderr.write(`envoy-check failed: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
  process.exitCode = 1;
});
