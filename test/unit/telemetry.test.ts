import { SpanKind, SpanStatusCode } from '@opentelemetry/api';
import type { ResourceMetrics } from '@opentelemetry/sdk-metrics';
import { InMemorySpanExporter } from '@opentelemetry/sdk-trace';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { AuditRecord } from '../../src/audit/record.ts';
import type { Runtime } from '../../src/pipeline/runtime.ts';
import { checkRequest } from '../../devstack/grpc-client.ts';
import { createCheck, type CallMeta } from '../../src/pipeline/check.ts';
import { CHECK_SPAN_NAME } from '../../src/telemetry/check-span.ts';
import { countJwksFetch, countPolicyReload } from '../../src/telemetry/metrics.ts';
import { buildResource, otlpTarget, startTelemetry, type Telemetry } from '../../src/telemetry/otel.ts';
import { telemetrySchema } from '../../src/telemetry/schema.ts';
import { parseConfigText } from '../../src/config/load.ts';
import { waitFor } from '../../devstack/ports.ts';
import { remoteKeySet } from '../../src/identity/jwks.ts';
import { createPolicyEngine } from '../../src/policy/engine.ts';
import { signingKey } from '../helpers/identity.ts';
import { startJwksServer } from '../helpers/jwks-server.ts';
import { policyDir, unitProviders } from '../helpers/policies.ts';
import { ANTHROPIC_SECRET, OPENAI_SECRET, UNIT_KEY, UNIT_KEY_2, unitRuntime } from '../helpers/runtime.ts';
import { TestReader } from '../helpers/otel-metrics.ts';

/** The sum of a counter (or count of a histogram) over the data points whose attributes include attrs. */
function total(rm: ResourceMetrics, name: string, attrs: Record<string, string> = {}): number {
  let n = 0;
  for (const sm of rm.scopeMetrics) {
    for (const m of sm.metrics) {
      if (m.descriptor.name !== name) continue;
      for (const dp of m.dataPoints as { attributes: Record<string, unknown>; value: unknown }[]) {
        if (!Object.entries(attrs).every(([k, v]) => dp.attributes[k] === v)) continue;
        const v = dp.value;
        n += typeof v === 'number' ? v : (v as { count: number }).count;
      }
    }
  }
  return n;
}

const PROMPT = 'unit prompt: the quarterly numbers are 4411';
const chat = (model: string, key = UNIT_KEY, requestId = 'req-1') =>
  checkRequest({
    headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json', 'x-request-id': requestId },
    body: JSON.stringify({ model, messages: [{ role: 'user', content: PROMPT }] }),
  });
const PARENT_TRACE = '0af7651916cd43dd8448eb211c80319c';
const PARENT_SPAN = 'b7ad6b7169203331';
const META: CallMeta = { traceparent: `00-${PARENT_TRACE}-${PARENT_SPAN}-01`, tracestate: 'envoy=1' };

describe('telemetry: the Check span, metrics and decision fields', () => {
  const spans = new InMemorySpanExporter();
  const reader = new TestReader();
  let tel: Telemetry;
  beforeAll(async () => {
    const cfg = telemetrySchema.parse({ traces: { scheduled_delay_ms: 1 } });
    tel = await startTelemetry(cfg, {
      version: '9.9.9',
      env: { OTEL_SERVICE_NAME: 'authz-unit', POD_NAME: 'pod-1', POD_NAMESPACE: 'ns-1' },
      spanExporter: spans,
      metricReader: reader,
    });
  });
  afterAll(async () => {
    await tel.shutdown();
  });

  function harness(rt: Runtime = unitRuntime()) {
    const records: { record: AuditRecord; trace: { traceId: string; spanId: string } | undefined }[] = [];
    const check = createCheck(() => rt, { onDecision: (record, trace) => records.push({ record, trace }), onError: () => {} }, tel.tracer);
    return { check, records };
  }

  async function finished() {
    await tel.flush();
    return spans.getFinishedSpans();
  }

  it('makes one SERVER span per Check, child of the traceparent from the gRPC metadata, with the audit record as attributes', async () => {
    spans.reset();
    const { check, records } = harness();
    await check(chat('gpt-4o-mini'), META);
    const done = await finished();
    expect(done).toHaveLength(1);
    const s = done[0]!;
    expect(s.name).toBe(CHECK_SPAN_NAME);
    expect(s.kind).toBe(SpanKind.SERVER);
    expect(s.spanContext().traceId).toBe(PARENT_TRACE);
    expect(s.parentSpanContext?.spanId).toBe(PARENT_SPAN);
    expect(s.spanContext().traceState?.get('envoy')).toBe('1');
    // The audit record, plus the OpenTelemetry RPC attributes of the call.
    expect(s.attributes).toEqual({
      ...records[0]!.record,
      'rpc.system': 'grpc',
      'rpc.service': 'envoy.service.auth.v3.Authorization',
      'rpc.method': 'Check',
      'rpc.grpc.status_code': 0,
    });
    // The span's own attributes stay on the span: the decision record has none of them.
    expect(Object.keys(records[0]!.record).filter((k) => k.startsWith('rpc.'))).toEqual([]);
    expect(records[0]!.trace).toEqual({ traceId: PARENT_TRACE, spanId: s.spanContext().spanId });
    expect(s.status.code).toBe(SpanStatusCode.UNSET);
    expect(s.events.map((e) => e.name)).toEqual(['identity', 'policy']);
    for (const e of s.events) expect(e.attributes?.['duration_ms']).toBeTypeOf('number');
    expect(s.instrumentationScope).toMatchObject({ name: 'llm-authz', version: '9.9.9' });
    expect(s.resource.attributes).toMatchObject({
      'service.name': 'authz-unit',
      'service.version': '9.9.9',
      'k8s.pod.name': 'pod-1',
      'k8s.namespace.name': 'ns-1',
      'service.instance.id': 'pod-1',
    });
  });

  it('draws every event of every Check inside its span, and decision.duration_ms within the span', async () => {
    spans.reset();
    const { check } = harness();
    for (let i = 0; i < 50; i++) await check(chat(i % 5 === 0 ? 'o3' : 'gpt-4o-mini'), META);
    const done = await finished();
    expect(done).toHaveLength(50);
    const ns = (t: readonly [number, number]): bigint => BigInt(t[0]) * 1_000_000_000n + BigInt(t[1]);
    let events = 0;
    for (const s of done) {
      const [start, end] = [ns(s.startTime), ns(s.endTime)];
      for (const e of s.events) {
        events++;
        expect(ns(e.time) >= start && ns(e.time) <= end, `${e.name} at ${ns(e.time) - start} ns of ${end - start}`).toBe(true);
      }
      const spanMs = Number(end - start) / 1e6;
      expect(s.attributes['decision.duration_ms'] as number).toBeLessThanOrEqual(spanMs + 0.001);
    }
    expect(events).toBeGreaterThanOrEqual(50);
  });

  it('makes a new root span without a traceparent (and with a malformed one)', async () => {
    spans.reset();
    const { check, records } = harness();
    await check(chat('gpt-4o-mini'));
    await check(chat('gpt-4o-mini'), { traceparent: 'not-a-traceparent' });
    const done = await finished();
    expect(done).toHaveLength(2);
    for (const s of done) expect(s.parentSpanContext).toBeUndefined();
    expect(records[0]!.trace?.traceId).toMatch(/^[0-9a-f]{32}$/);
    expect(records[0]!.trace?.traceId).not.toBe(records[1]!.trace?.traceId);
  });

  it('makes no span when Envoy did not sample its own, and still answers with its trace id and a span id of its own', async () => {
    spans.reset();
    const { check, records } = harness();
    await check(chat('gpt-4o-mini'), { traceparent: `00-${PARENT_TRACE}-${PARENT_SPAN}-00` });
    expect(await finished()).toHaveLength(0);
    expect(records[0]!.trace?.traceId).toBe(PARENT_TRACE);
    expect(records[0]!.trace?.spanId).toMatch(/^[0-9a-f]{16}$/);
    expect(records[0]!.trace?.spanId).not.toBe(PARENT_SPAN);
  });

  it('does not mark an ordinary deny as an error', async () => {
    spans.reset();
    const { check } = harness();
    await check(chat('o3'), META);
    await check(checkRequest({ headers: { 'content-type': 'application/json' }, body: '{"model":"gpt-4o-mini","messages":[]}' }), META);
    const done = await finished();
    expect(done.map((s) => s.attributes['decision.reason'])).toEqual(['model_not_allowed', 'no_credentials']);
    for (const s of done) expect(s.status.code).toBe(SpanStatusCode.UNSET);
    // Denied at identity: an identity event, no policy event.
    expect(done[1]!.events.map((e) => e.name)).toEqual(['identity']);
    expect(done[1]!.events[0]!.attributes?.['result']).toBe('no_credentials');
  });

  it('marks internal failures and timeouts as ERROR', async () => {
    spans.reset();
    const rt = unitRuntime('server:\n  check_timeout_ms: 20\n');
    await harness({ ...rt, identify: () => Promise.reject(new Error(`boom ${UNIT_KEY}`)) }).check(chat('gpt-4o-mini'), META);
    await harness({ ...rt, identify: () => new Promise(() => {}) }).check(chat('gpt-4o-mini'), META);
    const done = await finished();
    expect(done.map((s) => [s.status.code, s.status.message])).toEqual([
      [SpanStatusCode.ERROR, 'internal_error'],
      [SpanStatusCode.ERROR, 'timeout'],
    ]);
    expect(JSON.stringify(done.map((s) => [s.attributes, s.events, s.status]))).not.toContain(UNIT_KEY);
  });

  it('puts no credential, provider key or prompt into any span', async () => {
    spans.reset();
    const { check } = harness();
    await check(chat('gpt-4o-mini'), META);
    await check(chat('gpt-4o-mini', UNIT_KEY_2), META);
    await check(
      checkRequest({
        path: '/v1/messages',
        headers: { 'x-api-key': UNIT_KEY, 'content-type': 'application/json' },
        body: JSON.stringify({ model: 'claude-x', max_tokens: 5, messages: [{ role: 'user', content: PROMPT }] }),
      }),
      META,
    );
    const text = JSON.stringify((await finished()).map((s) => ({ a: s.attributes, e: s.events, st: s.status, n: s.name })));
    for (const secret of [UNIT_KEY, UNIT_KEY_2, OPENAI_SECRET, ANTHROPIC_SECRET, PROMPT, 'quarterly']) expect(text).not.toContain(secret);
  });

  it('counts decisions by effect/reason/rule, latency, identity methods, and the counters other areas call', async () => {
    const before = (await reader.collect()).resourceMetrics;
    const b = {
      allow: total(before, 'llm_authz.decisions', { effect: 'allow', reason: 'allowed' }),
      deny: total(before, 'llm_authz.decisions', { effect: 'deny', reason: 'model_not_allowed' }),
      latency: total(before, 'llm_authz.check.duration'),
      apiKey: total(before, 'llm_authz.identity.methods', { method: 'api_key' }),
    };
    const { check } = harness();
    await check(chat('gpt-4o-mini'), META);
    await check(chat('o3'), META);
    countPolicyReload('ok');
    countPolicyReload('failed');
    countJwksFetch('failed');
    const after = (await reader.collect()).resourceMetrics;
    expect(total(after, 'llm_authz.decisions', { effect: 'allow', reason: 'allowed' })).toBe(b.allow + 1);
    expect(total(after, 'llm_authz.decisions', { effect: 'deny', reason: 'model_not_allowed' })).toBe(b.deny + 1);
    expect(total(after, 'llm_authz.check.duration')).toBe(b.latency + 2);
    expect(total(after, 'llm_authz.identity.methods', { method: 'api_key' })).toBe(b.apiKey + 2);
    expect(total(after, 'llm_authz.policy.reloads', { outcome: 'failed' })).toBeGreaterThanOrEqual(1);
    expect(total(after, 'llm_authz.jwks.fetches', { outcome: 'failed' })).toBeGreaterThanOrEqual(1);
  });

  it('counts policy (re)loads by outcome from the policy engine', async () => {
    const count = async (outcome: string) => total((await reader.collect()).resourceMetrics, 'llm_authz.policy.reloads', { outcome });
    const ok0 = await count('ok');
    const failed0 = await count('failed');
    const dir = policyDir();
    dir.write({ 'p.yaml': `rules:\n  - {id: allow-all, effect: allow, when: "true"}\n` });
    const engine = createPolicyEngine({ dir: dir.dir, providers: unitProviders(), watch: false });
    expect(await count('ok')).toBe(ok0 + 1); // the first load
    expect(engine.reload().ok).toBe(true);
    expect(await count('ok')).toBe(ok0 + 2);
    dir.write({ 'p.yaml': `rules:\n  - {id: broken, effect: allow, when: "nope("}\n` });
    expect(engine.reload().ok).toBe(false);
    expect(await count('failed')).toBe(failed0 + 1);
    expect(await count('ok')).toBe(ok0 + 2);
    engine.close();
  });

  it('counts JWKS fetches by outcome from the identity key sets', async () => {
    const count = async (outcome: string) => total((await reader.collect()).resourceMetrics, 'llm_authz.jwks.fetches', { outcome });
    const ok0 = await count('ok');
    const failed0 = await count('failed');
    const k1 = await signingKey('k1');
    const server = await startJwksServer([k1.publicJwk]);
    let clock = 1_000_000;
    const ks = remoteKeySet({ url: server.url, issuer: 'i', maxAgeMs: 60_000, cooldownMs: 1000, timeoutMs: 2000, now: () => clock });
    try {
      await waitFor('the first fetch', () => (ks.generation() === 1 ? true : undefined), 5000);
      expect(await count('ok')).toBe(ok0 + 1);
      await server.close();
      clock += 61_000;
      const header = { alg: 'RS256', kid: 'k1' };
      await ks.getKey(header, { payload: '', signature: '' } as never); // cached key served, refresh fails in the background
      await waitFor('the failed refresh', async () => ((await count('failed')) === failed0 + 1 ? true : undefined), 5000);
      expect(await count('ok')).toBe(ok0 + 1);
    } finally {
      ks.close();
    }
  });
});

describe('OTLP target selection (config, then OTEL_* environment)', () => {
  const traces = (cfg: Parameters<typeof otlpTarget>[1], env: NodeJS.ProcessEnv) => otlpTarget('traces', cfg, env);

  it('exports nothing when no endpoint is known anywhere', () => {
    expect(traces({}, {})).toBeUndefined();
  });
  it('honours OTEL_EXPORTER_OTLP_ENDPOINT and OTEL_EXPORTER_OTLP_PROTOCOL (the exporter reads the URL itself)', () => {
    expect(traces({}, { OTEL_EXPORTER_OTLP_ENDPOINT: 'http://c:4318' })).toEqual({ protocol: 'http/protobuf', url: undefined });
    expect(traces({}, { OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: 'http://c:4317', OTEL_EXPORTER_OTLP_TRACES_PROTOCOL: 'grpc' })).toEqual({ protocol: 'grpc', url: undefined });
  });
  it('honours OTEL_TRACES_EXPORTER=none and OTEL_SDK_DISABLED=true', () => {
    expect(traces({}, { OTEL_EXPORTER_OTLP_ENDPOINT: 'http://c:4318', OTEL_TRACES_EXPORTER: 'none' })).toBeUndefined();
    expect(traces({ endpoint: 'http://c:4318' }, { OTEL_SDK_DISABLED: 'true' })).toBeUndefined();
  });
  it('takes the config endpoint first, appending /v1/traces for http/protobuf', () => {
    expect(traces({ endpoint: 'http://c:4318/' }, { OTEL_EXPORTER_OTLP_ENDPOINT: 'http://other:4318' })).toEqual({ protocol: 'http/protobuf', url: 'http://c:4318/v1/traces' });
    expect(traces({ endpoint: 'http://c:4317', protocol: 'grpc' }, {})).toEqual({ protocol: 'grpc', url: 'http://c:4317' });
    expect(otlpTarget('metrics', { endpoint: 'http://c:4318' }, {})).toEqual({ protocol: 'http/protobuf', url: 'http://c:4318/v1/metrics' });
  });
  it('config exporter none wins over the environment', () => {
    expect(traces({ exporter: 'none' }, { OTEL_EXPORTER_OTLP_ENDPOINT: 'http://c:4318' })).toBeUndefined();
  });
});

describe('resource attributes', () => {
  it('service name and version, Kubernetes pod/namespace/node from the environment, OTEL_RESOURCE_ATTRIBUTES and OTEL_SERVICE_NAME on top', () => {
    const saved = { ...process.env };
    try {
      process.env['OTEL_RESOURCE_ATTRIBUTES'] = 'deployment.environment.name=test';
      delete process.env['OTEL_SERVICE_NAME'];
      const r = buildResource('llm-authz', '1.2.3', { K8S_POD_NAME: 'p', K8S_NAMESPACE_NAME: 'n', NODE_NAME: 'node-a' });
      expect(r.attributes).toMatchObject({
        'service.name': 'llm-authz',
        'service.version': '1.2.3',
        'k8s.pod.name': 'p',
        'k8s.namespace.name': 'n',
        'k8s.node.name': 'node-a',
        'deployment.environment.name': 'test',
      });
      expect(buildResource('llm-authz', '1', {}).attributes['k8s.pod.name']).toBeUndefined();
      // service.instance.id: the pod's name, else a UUID per process, so replicas can be told apart.
      expect(r.attributes['service.instance.id']).toBe('p');
      const a = buildResource('llm-authz', '1', {}).attributes['service.instance.id'];
      expect(a).toMatch(/^[0-9a-f-]{36}$/);
      expect(buildResource('llm-authz', '1', {}).attributes['service.instance.id']).not.toBe(a);
    } finally {
      process.env = saved;
    }
  });
});

describe('the telemetry: config section', () => {
  it('is optional, takes the documented keys, and rejects unknown ones with their position', () => {
    expect(parseConfigText('{}', 'a.yaml').telemetry.traces.max_queue_size).toBe(2048);
    const c = parseConfigText('telemetry:\n  traces: {protocol: grpc, endpoint: "http://c:4317"}\n  metrics: {prometheus: {listen: "127.0.0.1:9464"}}\n', 'b.yaml');
    expect(c.telemetry.traces).toMatchObject({ protocol: 'grpc', endpoint: 'http://c:4317' });
    expect(() => parseConfigText('telemetry:\n  traces:\n    exporter: zipkin\n', 'c.yaml')).toThrow(/telemetry\.traces\.exporter.*c\.yaml:3/s);
  });
});
