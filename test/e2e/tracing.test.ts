/**
 * Audit in the real Jaeger: a request through the real Envoy produces one trace holding
 * Envoy's spans and llm-authz's span, a child of Envoy's ext_authz span, with the audit
 * attributes; the decision log and Envoy's access log share the decision id and the trace id.
 */
import { randomUUID } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { checkRequest, createAuthzClient } from '../../devstack/grpc-client.ts';
import { findTraces, getTrace, type JaegerSpan, type JaegerTrace } from '../../devstack/jaeger.ts';
import { waitFor } from '../../devstack/ports.ts';
import { CHECK_SPAN_NAME } from '../../src/telemetry/check-span.ts';
import { accessLogLine, useStack } from '../helpers/stack.ts';
import { BATCH_KEY, CHAT_KEY, QUICKSTART_CONFIG } from '../helpers/demo-keys.ts';
import { SUITE_PROMPTS } from '../helpers/suite-secrets.ts';
import { jaegerQueryUrl } from '../helpers/telemetry.ts';

const PROMPT = SUITE_PROMPTS[2];
const EXT_AUTHZ_SPAN = 'async envoy.service.auth.v3.Authorization.Check egress';

function tag(span: JaegerSpan, key: string): unknown {
  return span.tags.find((t) => t.key === key)?.value;
}

function serviceOf(t: JaegerTrace, s: JaegerSpan): string | undefined {
  return t.processes[s.processID]?.serviceName;
}

/** Waits until Jaeger has the trace with llm-authz's span and Envoy's ext_authz span in it. */
async function traceWithBoth(traceId: string): Promise<JaegerTrace> {
  return waitFor(
    `trace ${traceId} in Jaeger with Envoy's and llm-authz's spans`,
    async () => {
      const t = await getTrace(jaegerQueryUrl(), traceId);
      if (!t) return undefined;
      const ours = t.spans.some((s) => s.operationName === CHECK_SPAN_NAME);
      const envoys = t.spans.filter((s) => serviceOf(t, s) === 'llm-gateway');
      const hasExtAuthz = envoys.some((s) => s.operationName === EXT_AUTHZ_SPAN);
      const hasIngress = envoys.some((s) => s.operationName !== EXT_AUTHZ_SPAN);
      return ours && hasExtAuthz && hasIngress ? t : undefined;
    },
    30_000,
    250,
  );
}

async function send(url: string, key: string, model: string): Promise<{ status: number; requestId: string; traceHeader: string | null }> {
  const requestId = `trace-${randomUUID()}`;
  const res = await fetch(`${url}/v1/chat/completions`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: `Bearer ${key}`, 'x-request-id': requestId },
    body: JSON.stringify({
      model,
      max_tokens: 32,
      tools: [{ type: 'function', function: { name: 'lookup_order', parameters: {} } }],
      messages: [{ role: 'user', content: PROMPT }],
    }),
  });
  await res.text();
  return { status: res.status, requestId, traceHeader: res.headers.get('x-llm-authz-trace-id') };
}

describe('audit spans in Jaeger, through the real Envoy', () => {
  const stack = useStack('tracing', { config: QUICKSTART_CONFIG });

  const cases = [
    {
      name: 'an allow',
      key: CHAT_KEY,
      model: 'gpt-4o-mini',
      status: 200,
      effect: 'allow',
      reason: 'allowed',
      workload: 'spiffe://demo.example/ns/apps/sa/chat-app',
      root: 'llm openai',
    },
    {
      name: 'a deny',
      key: BATCH_KEY,
      model: 'gpt-4.1',
      status: 403,
      effect: 'deny',
      reason: 'model_not_allowed',
      workload: 'spiffe://demo.example/ns/jobs/sa/batch-summarizer',
      root: 'llm (not routed)',
    },
  ] as const;

  it.each(cases)('$name: one trace with Envoy spans and the llm-authz span as child of the ext_authz span', async (c) => {
    const s = stack();
    const { status, requestId, traceHeader } = await send(s.url, c.key, c.model);
    expect(status).toBe(c.status);

    // The decision-log line.
    const line = await waitFor('the decision-log line', () => s.authz.decisions().find((d) => d['http.request.id'] === requestId));
    expect(line).toMatchObject({ 'decision.effect': c.effect, 'decision.reason': c.reason, 'identity.workload': c.workload });
    const decisionId = line['decision.id'];
    const traceId = line['trace_id'];
    expect(traceId).toMatch(/^[0-9a-f]{32}$/);
    expect(line['span_id']).toMatch(/^[0-9a-f]{16}$/);
    // The client got the trace id next to the decision id.
    expect(traceHeader).toBe(traceId);

    // Envoy's access-log line for the same request: same decision id, same trace id.
    const access = await accessLogLine(s.accessLog, requestId);
    expect(access['decision_id']).toBe(decisionId);
    expect(access['trace_id']).toBe(traceId);

    // One trace in Jaeger: Envoy's spans and ours, ours a child of Envoy's ext_authz span.
    const t = await traceWithBoth(String(traceId));
    expect(t.traceID).toBe(traceId);
    const ours = t.spans.filter((sp) => sp.operationName === CHECK_SPAN_NAME);
    expect(ours).toHaveLength(1);
    const span = ours[0]!;
    expect(serviceOf(t, span)).toBe('llm-authz');
    expect(span.spanID).toBe(line['span_id']);
    const extAuthz = t.spans.find((sp) => sp.operationName === EXT_AUTHZ_SPAN && serviceOf(t, sp) === 'llm-gateway');
    expect(extAuthz).toBeDefined();
    expect(span.references).toEqual([{ refType: 'CHILD_OF', traceID: traceId, spanID: extAuthz!.spanID }]);
    expect(tag(span, 'span.kind')).toBe('server');

    // The audit attributes.
    expect(tag(span, 'decision.id')).toBe(decisionId);
    expect(tag(span, 'decision.effect')).toBe(c.effect);
    expect(tag(span, 'decision.reason')).toBe(c.reason);
    expect(tag(span, 'decision.status')).toBe(c.status);
    expect(tag(span, 'identity.method')).toBe('api_key');
    expect(tag(span, 'identity.workload')).toBe(c.workload);
    expect(tag(span, 'identity.credential_id')).toBeTypeOf('string');
    expect(tag(span, 'gen_ai.request.model')).toBe(c.model);
    expect(tag(span, 'gen_ai.operation.name')).toBe('chat');
    expect(tag(span, 'gen_ai.request.max_tokens')).toBe(32);
    expect(String(tag(span, 'llm.tools'))).toContain('lookup_order');
    expect(tag(span, 'http.request.id')).toBe(requestId);
    expect(tag(span, 'url.path')).toBe('/v1/chat/completions');
    expect(tag(span, 'policy.version')).toBeTypeOf('string');
    if (c.effect === 'allow') expect(tag(span, 'gen_ai.provider.name')).toBe('openai');
    // An ordinary deny is not an error.
    expect(tag(span, 'otel.status_code')).not.toBe('ERROR');
    expect(tag(span, 'error')).toBeUndefined();
    // Phase events with durations, each drawn inside the span (Jaeger: microseconds).
    const events = (span.logs ?? []).map((l) => Object.fromEntries(l.fields.map((f) => [f.key, f.value])));
    for (const phase of ['identity', 'policy']) {
      const e = events.find((ev) => ev['event'] === phase);
      expect(e, `event ${phase}`).toBeDefined();
      expect(typeof e!['duration_ms']).toBe('number');
    }
    expect(span.logs?.length).toBeGreaterThanOrEqual(2);
    for (const l of span.logs ?? []) {
      expect(l.timestamp, `event ${JSON.stringify(l.fields)} after the span's start`).toBeGreaterThanOrEqual(span.startTime);
      expect(l.timestamp, `event ${JSON.stringify(l.fields)} before the span's end`).toBeLessThanOrEqual(span.startTime + span.duration);
    }
    // decision.duration_ms is not longer than the span (its microseconds, rounded down by Jaeger).
    expect(Number(tag(span, 'decision.duration_ms')) * 1000).toBeLessThanOrEqual(span.duration + 1);
    // OpenTelemetry RPC attributes, and the replica that decided on the resource.
    expect(tag(span, 'rpc.system')).toBe('grpc');
    expect(tag(span, 'rpc.service')).toBe('envoy.service.auth.v3.Authorization');
    expect(tag(span, 'rpc.method')).toBe('Check');
    expect(tag(span, 'rpc.grpc.status_code')).toBe(0);
    const resource = Object.fromEntries((t.processes[span.processID]?.tags ?? []).map((x) => [x.key, x.value]));
    expect(resource['service.instance.id']).toMatch(/^[0-9a-f-]{36}$/);
    expect(resource['service.version']).toBeTypeOf('string');
    // Envoy's root span is named by its route's decorator (Jaeger titles the trace with it), and
    // the provider call has a span of its own, a child of the root span: only when forwarded.
    const root = t.spans.filter((sp) => (sp.references ?? []).length === 0);
    expect(root).toHaveLength(1);
    expect(serviceOf(t, root[0]!)).toBe('llm-gateway');
    expect(root[0]!.operationName).toBe(c.root);
    expect(extAuthz!.references?.[0]?.spanID).toBe(root[0]!.spanID);
    const upstream = t.spans.filter((sp) => sp.operationName.startsWith('router '));
    if (c.effect === 'allow') {
      expect(upstream.map((sp) => sp.operationName)).toEqual(['router openai egress']);
      expect(upstream[0]!.references?.[0]?.spanID).toBe(root[0]!.spanID);
      expect(tag(upstream[0]!, 'upstream_cluster')).toBe('openai');
      expect(tag(upstream[0]!, 'http.status_code')).toBe('200');
    } else {
      expect(upstream).toEqual([]);
    }
    // The README walkthrough: find the request in Jaeger by decision id, and by workload + effect.
    const byId = await findTraces(jaegerQueryUrl(), 'llm-authz', { tags: JSON.stringify({ 'decision.id': decisionId }) });
    expect(byId.map((x) => x.traceID)).toEqual([traceId]);
    const byWorkload = await findTraces(jaegerQueryUrl(), 'llm-authz', {
      operation: CHECK_SPAN_NAME,
      tags: JSON.stringify({ 'identity.workload': c.workload, 'decision.effect': c.effect }),
    });
    expect(byWorkload.map((x) => x.traceID)).toContain(traceId);
    // Nothing secret in the trace.
    const text = JSON.stringify(t);
    for (const secret of [CHAT_KEY, BATCH_KEY, PROMPT]) expect(text).not.toContain(secret);
  });

  it('without a traceparent in the gRPC metadata, the Check span is a new root span', async () => {
    const s = stack();
    const client = createAuthzClient(`127.0.0.1:${s.authz.port}`);
    const requestId = `root-${randomUUID()}`;
    try {
      await client.check(
        checkRequest({
          headers: { authorization: `Bearer ${CHAT_KEY}`, 'content-type': 'application/json', 'x-request-id': requestId },
          body: JSON.stringify({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: PROMPT }] }),
        }),
      );
    } finally {
      client.close();
    }
    const line = await waitFor('the decision-log line', () => s.authz.decisions().find((d) => d['http.request.id'] === requestId));
    const t = await waitFor('the trace in Jaeger', () => getTrace(jaegerQueryUrl(), String(line['trace_id'])), 30_000, 250);
    expect(t.spans).toHaveLength(1);
    expect(t.spans[0]!.operationName).toBe(CHECK_SPAN_NAME);
    expect(t.spans[0]!.references ?? []).toEqual([]);
  });
});
