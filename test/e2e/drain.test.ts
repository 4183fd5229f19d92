/**
 * SIGTERM: health goes NOT_SERVING (seen by Envoy's own health check), checks keep being
 * answered during the drain delay, in-flight checks complete, then the process exits 0.
 */
import { describe, expect, it } from 'vitest';
import { startAuthz } from '../../devstack/authz.ts';
import { checkRequest, createAuthzClient } from '../../devstack/grpc-client.ts';
import { renderEnvoyConfig, startEnvoy } from '../../devstack/envoy.ts';
import { waitFor } from '../../devstack/ports.ts';
import { newWorkDir } from '../helpers/stack.ts';
import { otlpParams } from '../helpers/telemetry.ts';
import { CHAT_KEY, quickstartConfigWith } from '../helpers/demo-keys.ts';

const allowedCheck = (i: number) =>
  checkRequest({
    headers: { authorization: `Bearer ${CHAT_KEY}`, 'content-type': 'application/json', 'x-request-id': `drain-${i}` },
    body: JSON.stringify({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'x'.repeat(256 * 1024) }] }),
  });

describe('graceful shutdown', () => {
  it('reports NOT_SERVING to Envoy and to clients while draining, answers checks, then exits 0', async () => {
    const dir = newWorkDir('drain');
    const config = quickstartConfigWith(dir, (c) => {
      c['server'] = { ...c['server'], drain_delay_ms: 6000 };
    });
    const authz = await startAuthz({ config, workDir: dir });
    const envoy = await startEnvoy({
      workDir: dir,
      render: (ports) =>
        renderEnvoyConfig('envoy/gateway.yaml', {
          LISTEN_ADDRESS: '127.0.0.1',
          LISTEN_PORT: ports.listen,
          ADMIN_ADDRESS: '127.0.0.1',
          ADMIN_PORT: ports.admin,
          AUTHZ_ADDRESS: '127.0.0.1',
          AUTHZ_PORT: authz.port,
          OPENAI_ADDRESS: '127.0.0.1',
          OPENAI_PORT: 9,
          ANTHROPIC_ADDRESS: '127.0.0.1',
          ANTHROPIC_PORT: 9,
          GEMINI_ADDRESS: '127.0.0.1',
          GEMINI_PORT: 9,
          AZURE_OPENAI_ADDRESS: '127.0.0.1',
          AZURE_OPENAI_PORT: 9,
          BEDROCK_ADDRESS: '127.0.0.1',
          BEDROCK_PORT: 9,
          VERTEX_AI_ADDRESS: '127.0.0.1',
          VERTEX_AI_PORT: 9,
          MAX_REQUEST_BYTES: 65536,
          ACCESS_LOG_PATH: `${dir}/access.log`,
          ...otlpParams(),
        }),
    });
    const client = createAuthzClient(`127.0.0.1:${authz.port}`);
    try {
      await waitFor('Envoy to see llm-authz healthy', async () => ((await envoy.clusterHealth('llm_authz'))[0] === 'HEALTHY' ? true : undefined));
      expect(await client.health()).toBe('SERVING');

      authz.child.proc.kill('SIGTERM');
      await authz.child.waitForLine('stderr', (l) => l.includes('draining'));
      expect(await client.health()).toBe('NOT_SERVING');
      expect(await client.health('envoy.service.auth.v3.Authorization')).toBe('NOT_SERVING');
      // Checks are still answered while draining.
      const during = await client.check(allowedCheck(0));
      expect((during['status'] as { code?: number }).code ?? 0).toBe(0);
      // Envoy's active health check sees the drain and takes the host out.
      await waitFor('Envoy to see llm-authz unhealthy', async () => ((await envoy.clusterHealth('llm_authz'))[0] === 'FAILED_ACTIVE_HC' ? true : undefined), 5500);

      expect(await authz.child.exited).toBe(0);
    } finally {
      client.close();
      await envoy.stop();
      await authz.stop('SIGKILL');
    }
  });

  it('finishes every check already in flight when SIGTERM arrives (no drain delay)', async () => {
    const dir = newWorkDir('inflight');
    const config = quickstartConfigWith(dir, () => {});
    const authz = await startAuthz({ config, workDir: dir });
    const client = createAuthzClient(`127.0.0.1:${authz.port}`);
    try {
      await client.health();
      const calls = Array.from({ length: 200 }, (_, i) =>
        client.check(allowedCheck(i)).then(
          (res) => ({ answered: true as const, code: (res['status'] as { code?: number }).code ?? 0 }),
          (err: { code?: number }) => ({ answered: false as const, code: err.code ?? -1 }),
        ),
      );
      // Signal once the server has begun deciding, while most calls are still queued or in flight.
      await waitFor('the first decisions', () => (authz.decisions().length > 0 ? true : undefined), 10_000, 1);
      authz.child.proc.kill('SIGTERM');
      const decidedAtSignal = authz.decisions().length;
      const results = await Promise.all(calls);
      expect(await authz.child.exited).toBe(0);

      const answered = results.filter((r) => r.answered);
      // Every Check the server started was answered with its decision (and recorded once).
      expect(answered.length).toBe(authz.decisions().length);
      expect(answered.every((r) => r.code === 0)).toBe(true);
      // The signal really arrived mid-stream: most checks were still to be decided.
      expect(decidedAtSignal).toBeLessThan(answered.length);
      // Calls the server never started were refused as UNAVAILABLE (Envoy then applies status_on_error).
      for (const r of results.filter((x) => !x.answered)) expect(r.code).toBe(14);
    } finally {
      client.close();
      await authz.stop('SIGKILL');
    }
  });
});
