/**
 * SIGTERM: health goes NOT_SERVING (seen by Envoy's own health check), checks keep being
 * answered during the drain delay, checks in flight at the signal complete (held there by a
 * JWKS server that answers only when told), then the process exits 0.
 */
import { describe, expect, it } from 'vitest';
import { startAuthz } from '../../devstack/authz.ts';
import { checkRequest, createAuthzClient } from '../../devstack/grpc-client.ts';
import { renderEnvoyConfig, startEnvoy } from '../../devstack/envoy.ts';
import { waitFor } from '../../devstack/ports.ts';
import { newWorkDir } from '../helpers/stack.ts';
import { otlpParams } from '../helpers/telemetry.ts';
import { CHAT_KEY, quickstartConfigWith } from '../helpers/demo-keys.ts';
import { signingKey, signToken as makeToken, type SigningKey } from '../helpers/identity.ts';
import { startJwksServer } from '../helpers/jwks-server.ts';
import { rememberSecret } from '../helpers/suite-secrets.ts';

/** Tokens this file signs are registered with the suite-wide secret scan. */
async function signToken(k: SigningKey, claims: Parameters<typeof makeToken>[1]): Promise<string> {
  const t = await makeToken(k, claims);
  rememberSecret(`drain JWT ${k.kid}`, t);
  return t;
}

const jwtCheck = (token: string, i: number) =>
  checkRequest({
    headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json', 'x-request-id': `inflight-${i}` },
    body: JSON.stringify({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'hello' }] }),
  });

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

  it("holds checks in flight at SIGTERM (each waits on its issuer's JWKS refresh) and answers every one before exiting 0", async () => {
    // One issuer per check: each check's unknown key makes llm-authz fetch its own issuer's
    // JWKS URL, and the JWKS server holds those fetches. When it holds N of them, N checks are
    // in flight in llm-authz, for as long as the test wants: no race with the signal.
    const N = 8;
    const dir = newWorkDir('inflight');
    const keys = await Promise.all(Array.from({ length: N }, (_, i) => signingKey(`drain-${i}`)));
    const jwksPath = (i: number): string => `/issuer-${i}/jwks.json`;
    const jwks = await startJwksServer([], jwksPath(0));
    for (let i = 1; i < N; i++) jwks.setKeys([], jwksPath(i));
    const config = quickstartConfigWith(dir, (c) => {
      c['server'] = { ...c['server'], drain_delay_ms: 0, check_timeout_ms: 30_000, shutdown_timeout_ms: 30_000 };
      c['identity'] = {
        ...c['identity'],
        jwt: {
          issuers: keys.map((_, i) => ({
            issuer: `https://issuer-${i}.test`,
            audiences: ['llm-authz'],
            jwks: { url: `http://127.0.0.1:${jwks.port}${jwksPath(i)}`, cooldown_s: 0, timeout_ms: 25_000 },
          })),
        },
      };
    });
    const authz = await startAuthz({ config, workDir: dir });
    const client = createAuthzClient(`127.0.0.1:${authz.port}`);
    try {
      // The first fetch of every (still empty) set is done before any check arrives.
      await waitFor('the first JWKS fetches', () => (Array.from({ length: N }, (_, i) => jwks.hits(jwksPath(i))).every((h) => h >= 1) ? true : undefined));
      await client.health();
      jwks.hold();
      const tokens = await Promise.all(keys.map((k, i) => signToken(k, { iss: `https://issuer-${i}.test`, aud: 'llm-authz', sub: `spiffe://demo.example/ns/apps/sa/drain-${i}` })));
      for (const [i, k] of keys.entries()) jwks.setKeys([k.publicJwk], jwksPath(i));
      let settled = 0;
      const calls = tokens.map((t, i) =>
        client
          .check(jwtCheck(t, i))
          .then(
            (res) => ({ answered: true as const, code: (res['status'] as { code?: number }).code ?? 0 }),
            (err: { code?: number }) => ({ answered: false as const, code: err.code ?? -1 }),
          )
          .finally(() => settled++),
      );
      await waitFor('every check to wait on its JWKS fetch', () => (jwks.waiting() === N ? true : undefined), 15_000, 10);

      authz.child.proc.kill('SIGTERM');
      const draining = JSON.parse(await authz.child.waitForLine('stderr', (l) => l.includes('draining'))) as Record<string, unknown>;
      // The signal found every check in flight.
      expect(draining['in_flight']).toBe(N);
      // The held checks are still waiting, and the process with them.
      expect(settled).toBe(0);
      expect(jwks.waiting()).toBe(N);
      let exited = false;
      void authz.child.exited.then(() => (exited = true));
      await new Promise((r) => setTimeout(r, 200));
      expect(exited).toBe(false);

      jwks.release();
      const results = await Promise.all(calls);
      expect(await authz.child.exited).toBe(0);
      // Each held check was answered with its decision, made with the refreshed key.
      expect(results).toEqual(Array.from({ length: N }, () => ({ answered: true, code: expect.any(Number) })));
      const decisions = authz.decisions();
      expect(decisions).toHaveLength(N);
      expect(decisions.map((d) => d['identity.method'])).toEqual(Array.from({ length: N }, () => 'jwt'));
      expect(new Set(decisions.map((d) => d['identity.workload']))).toEqual(new Set(keys.map((_, i) => `spiffe://demo.example/ns/apps/sa/drain-${i}`)));
      expect(authz.logs().find((l) => l['msg'] === 'stopped')).toMatchObject({ how: 'graceful' });
    } finally {
      client.close();
      jwks.release();
      await jwks.close();
      await authz.stop('SIGKILL');
    }
  });
});
