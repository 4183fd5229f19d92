/**
 * The start-up warm-up (src/pipeline/warm-up.ts, src/server/warm-up.ts): it takes synthetic
 * requests through the Check and one health call through the real gRPC server, and leaves no
 * decision record, span, decision metric or quota charge behind; health is NOT_SERVING while it
 * runs and SERVING after it, also when it fails or overruns its budget. The real process (serve,
 * its decision log, its exporters) is tested in test/e2e/warm-up.test.ts.
 */
import { mkdtempSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import type { ResourceMetrics } from '@opentelemetry/sdk-metrics';
import { metric, TestReader } from '../helpers/otel-metrics.ts';
import { InMemorySpanExporter } from '@opentelemetry/sdk-trace';
import { exportJWK, generateKeyPair, SignJWT } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createAuthzClient } from '../../devstack/grpc-client.ts';
import { waitFor } from '../../devstack/ports.ts';
import { checkRequest } from '../../src/envoy/check-request.ts';
import type { CheckResponse } from '../../src/envoy/response.ts';
import { WIRES } from '../../src/apis/index.ts';
import type { AuditRecord } from '../../src/audit/record.ts';
import { hashApiKey } from '../../src/identity/api-key.ts';
import { createCheck, type Check } from '../../src/pipeline/check.ts';
import { loadRuntime, type Runtime } from '../../src/pipeline/runtime.ts';
import { warmUpCheck } from '../../src/pipeline/warm-up.ts';
import { samplePath } from '../../src/pipeline/warm-up-requests.ts';
import { startServer, type AuthzServer } from '../../src/server/server.ts';
import { callTarget, healthCallToSelf } from '../../src/server/warm-up-call.ts';
import { serverWarmUp, warmUpThenServe, type WarmUpSteps } from '../../src/server/warm-up.ts';
import { startTelemetry, type Telemetry } from '../../src/telemetry/otel.ts';
import { telemetrySchema } from '../../src/telemetry/schema.ts';
import { capturingLogger } from '../helpers/log.ts';

const KEY = 'lla_warmtest1_abcdefghijklmnopqrstuvwx';
const KEY_ENV = 'LLM_AUTHZ_WARM_UP_TEST_PROVIDER_KEY';

let dir: string;
let rt: Runtime;
let tel: Telemetry;
const spans = new InMemorySpanExporter();
const reader = new TestReader();
let jwt: string;

beforeAll(async () => {
  dir = mkdtempSync(path.join(os.tmpdir(), 'llm-authz-warm-up-'));
  process.env[KEY_ENV] = 'sk-warm-up-test-provider-key';
  const { publicKey, privateKey } = await generateKeyPair('RS256');
  const jwk = { ...(await exportJWK(publicKey)), kid: 'test-1', alg: 'RS256' };
  jwt = await new SignJWT({})
    .setProtectedHeader({ alg: 'RS256', kid: 'test-1' })
    .setIssuer('https://issuer.test')
    .setAudience('llm-authz')
    .setSubject('wl-jwt')
    .setExpirationTime('1h')
    .sign(privateKey);
  mkdirSync(path.join(dir, 'policies'));
  writeFileSync(
    path.join(dir, 'policies/rules.yaml'),
    `rules:
  - id: deny-big
    effect: deny
    reason: max_tokens_exceeded
    when: 'has(llm.max_tokens) && llm.max_tokens > 4096'
  - id: allow-known
    effect: allow
    when: 'identity.workload in ["wl-one", "wl-jwt"]'
`,
  );
  writeFileSync(
    path.join(dir, 'llm-authz.yaml'),
    `providers:
  - {name: openai, api: openai, credential: {env: ${KEY_ENV}}}
  - {name: anthropic, api: anthropic, credential: {env: ${KEY_ENV}}}
  - {name: gemini, api: gemini, credential: {env: ${KEY_ENV}}}
identity:
  api_keys:
    - {id: warmtest1, hash: "${hashApiKey(KEY)}", workload: wl-one, models: ["gpt-4o*"]}
  jwt:
    issuers:
      - issuer: https://issuer.test
        audiences: [llm-authz]
        algorithms: [RS256, ES256]
        jwks: {keys: [${JSON.stringify(jwk)}]}
policy:
  dir: policies
  watch: false
quotas:
  rules:
    # One request an hour for everyone together: a request the warm-up charged would leave none.
    - {name: everyone, subject: {cel: '"everyone"'}, requests: {limit: 1, window: 1h}}
`,
  );
  rt = loadRuntime(path.join(dir, 'llm-authz.yaml'), { watchPolicies: false });
  tel = await startTelemetry(telemetrySchema.parse({}), { version: 't', env: {}, spanExporter: spans, metricReader: reader });
});

afterAll(async () => {
  await tel.shutdown();
  await rt.close();
  delete process.env[KEY_ENV];
  rmSync(dir, { recursive: true, force: true });
});

function realCheck(records: AuditRecord[]): Check {
  return createCheck(() => rt, { onDecision: (r) => records.push(r), onError: () => undefined }, tel.tracer);
}

const chat = (bearer: string): Record<string, unknown> =>
  checkRequest({
    headers: { authorization: `Bearer ${bearer}`, 'content-type': 'application/json' },
    body: JSON.stringify({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'hi' }] }),
  });

describe('the Check warm-up', () => {
  it('takes synthetic requests through every phase and leaves no span, decision metric or quota charge', async () => {
    const result = await warmUpCheck(rt);
    expect(result.failures).toEqual([]);
    // Each endpoint of the three APIs with the warm-up's own key, its own JWT, and five denied at the identity phase.
    const endpoints = WIRES.filter((w) => ['openai', 'anthropic', 'gemini'].includes(w.name)).reduce((n, w) => n + w.endpoints.length, 0);
    expect(result.requests).toBe(endpoints + 1 + 4 + 2);
    await tel.flush();
    expect(spans.getFinishedSpans()).toHaveLength(0);
    const rm = (await reader.collect()).resourceMetrics;
    expect(metric(rm, 'llm_authz.decisions')).toBeUndefined();
    expect(metric(rm, 'llm_authz.check.duration')).toBeUndefined();
    expect(metric(rm, 'llm_authz.identity.methods')).toBeUndefined();

    // The probes can fail: a real Check after it is recorded, spanned and counted, and it finds
    // the quota unused (one request an hour): the next one is over it.
    const records: AuditRecord[] = [];
    const check = realCheck(records);
    const first = await check(chat(KEY));
    expect(first.status.code).toBe(0);
    const second = await check(chat(jwt));
    expect(records.map((r) => r['decision.reason'])).toEqual(['allowed', 'quota_exceeded']);
    expect(second.status.code).not.toBe(0);
    await tel.flush();
    expect(spans.getFinishedSpans()).toHaveLength(2);
    const after = (await reader.collect()).resourceMetrics;
    expect(metric(after, 'llm_authz.decisions')).toBe(2);
    expect(metric(after, 'llm_authz.identity.methods', { method: 'jwt' })).toBe(1);
  });

  it('reports a failure of its own instead of throwing: a runtime whose policies throw', async () => {
    const broken: Runtime = {
      ...rt,
      decide: () => {
        throw new Error('policy engine down');
      },
    };
    const result = await warmUpCheck(broken);
    expect(result.failures.map((f) => f.step)).toEqual(['check_pipeline']);
  });

  it('has a request path for every endpoint of every API profile (a new endpoint needs a path or display form it can fill)', () => {
    const missing = WIRES.flatMap((w) => w.endpoints.filter((e) => samplePath(w, e) === undefined).map((e) => `${w.name} ${e.schema}`));
    expect(missing).toEqual([]);
    // The check can fail: a pattern without a display form has no path.
    const [wire] = WIRES;
    expect(wire && samplePath(wire, { method: 'POST', path: /^\/x\/(?<model>[^/]+)$/, schema: 'x', operation: 'chat' })).toBeUndefined();
  });
});

describe('warm-up before SERVING', () => {
  let server: AuthzServer;
  let address: string;
  const records: AuditRecord[] = [];

  beforeAll(async () => {
    const { log } = capturingLogger();
    server = await startServer({ listen: '127.0.0.1:0', check: realCheck(records), log });
    address = `127.0.0.1:${server.port}`;
  });

  afterAll(async () => {
    await server.shutdown(1000);
  });

  it('health is NOT_SERVING while the steps run and SERVING once they are done; the call to the own listener sees NOT_SERVING', async () => {
    server.setServing(false);
    const client = createAuthzClient(address);
    try {
      let release: () => void = () => undefined;
      const held = new Promise<void>((r) => {
        release = r;
      });
      let during: string | undefined;
      const steps: WarmUpSteps = {
        check: async () => {
          during = await client.health('envoy.service.auth.v3.Authorization');
          await held;
          return { requests: 0, failures: [] };
        },
        call: () => healthCallToSelf(callTarget('127.0.0.1:0', server.port), 1000),
      };
      const { log, lines } = capturingLogger();
      const done = warmUpThenServe(steps, () => server.setServing(true), log);
      // the step's own health call: its first connection may take a while on a busy machine
      // (within the warm-up's 3 s budget, after which it serves regardless)
      expect(await waitFor('the step to see a health status', () => during, 2500, 10)).toBe('NOT_SERVING');
      expect(await client.health()).toBe('NOT_SERVING');
      release();
      const report = await done;
      expect(report).toMatchObject({ call: 'NOT_SERVING', failed: [] });
      expect(await client.health()).toBe('SERVING');
      expect(await client.health('envoy.service.auth.v3.Authorization')).toBe('SERVING');
      expect(lines().filter((l) => l['msg'] === 'start-up warm-up done')).toHaveLength(1);
      // The health call made no decision.
      expect(records).toEqual([]);
    } finally {
      client.close();
    }
  });

  it('a warm-up that fails serves all the same: one warning, each failed step counted, Checks answered', async () => {
    server.setServing(false);
    const before = (await reader.collect()).resourceMetrics;
    const count = (rm: ResourceMetrics, step: string): number => metric(rm, 'llm_authz.warm_up.failures', { step }) ?? 0;
    const { log, lines } = capturingLogger();
    const closed = await new Promise<number>((resolve) => {
      const s = createServer().listen(0, '127.0.0.1', () => {
        const p = (s.address() as { port: number }).port;
        s.close(() => resolve(p));
      });
    });
    const report = await warmUpThenServe(
      {
        check: () => Promise.reject(new Error('the pipeline warm-up broke')),
        call: () => healthCallToSelf({ host: '127.0.0.1', port: closed }, 1000),
      },
      () => server.setServing(true),
      log,
    );
    expect(report.failed).toEqual(['check_pipeline', 'grpc_call']);
    const warnings = lines().filter((l) => l['level'] === 40);
    expect(warnings).toHaveLength(1);
    expect(warnings[0]).toMatchObject({ failed: ['check_pipeline', 'grpc_call'] });
    const after = (await reader.collect()).resourceMetrics;
    expect(count(after, 'check_pipeline') - count(before, 'check_pipeline')).toBe(1);
    expect(count(after, 'grpc_call') - count(before, 'grpc_call')).toBe(1);
    const client = createAuthzClient(address);
    try {
      expect(await client.health()).toBe('SERVING');
      const res = (await client.check(chat('lla_nobody01_abcdefghijklmnopqrstuvwx'))) as unknown as CheckResponse;
      expect(res.status.code).not.toBe(0);
    } finally {
      client.close();
    }
  });

  it('serves when the warm-up overruns its budget (what is left goes on unwaited)', async () => {
    server.setServing(false);
    const { log } = capturingLogger();
    const report = await warmUpThenServe({ check: () => new Promise(() => undefined) }, () => server.setServing(true), log, 50);
    expect(report.failed).toEqual(['budget']);
    const client = createAuthzClient(address);
    try {
      expect(await client.health()).toBe('SERVING');
    } finally {
      client.close();
    }
  });

  it('the call goes to a wildcard listener on loopback, and with TLS only to the plaintext health listener', () => {
    expect(callTarget('0.0.0.0:9001', 9001)).toEqual({ host: '127.0.0.1', port: 9001 });
    expect(callTarget('[::]:9001', 9001)).toEqual({ host: '::1', port: 9001 });
    expect(callTarget('10.1.2.3:0', 40000)).toEqual({ host: '10.1.2.3', port: 40000 });
    expect(callTarget('unix:/run/authz.sock', 1)).toEqual({ socket: '/run/authz.sock' });
    const tlsServer = { ...server, port: 9001, healthPort: 14002 };
    expect(serverWarmUp(rt, tlsServer, { listen: '0.0.0.0:9001', healthListen: '0.0.0.0:14002', tls: true }).call).toBeDefined();
    expect(serverWarmUp(rt, { ...tlsServer, healthPort: undefined }, { listen: '0.0.0.0:9001', healthListen: undefined, tls: true }).call).toBeUndefined();
    expect(serverWarmUp(rt, tlsServer, { listen: '0.0.0.0:9001', healthListen: undefined, tls: false }).call).toBeDefined();
  });

  it('the call reaches a Unix socket listener too, and fails for a listener that is not there', async () => {
    const socketDir = mkdtempSync(path.join(os.tmpdir(), 'llm-authz-warm-up-sock-'));
    const socket = path.join(socketDir, 'authz.sock');
    const { log } = capturingLogger();
    const uds = await startServer({ listen: `unix:${socket}`, check: realCheck([]), log });
    try {
      expect(await healthCallToSelf(callTarget(`unix:${socket}`, uds.port), 1000)).toBe('NOT_SERVING');
      uds.setServing(true);
      expect(await healthCallToSelf(callTarget(`unix:${socket}`, uds.port), 1000)).toBe('SERVING');
      await expect(healthCallToSelf({ socket: path.join(socketDir, 'none.sock') }, 1000)).rejects.toThrow();
    } finally {
      await uds.shutdown(1000);
      rmSync(socketDir, { recursive: true, force: true });
    }
  });
});
