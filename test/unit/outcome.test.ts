/**
 * The outcome path without Envoy: ProcessingRequests as proto-loader decodes them go through
 * createOutcomes; the record is an allowlist (no body, no header but the request id), a stream
 * that closes early still gives a record, denied or undecided requests give none, a failure
 * ends only that stream (and is counted, by what failed), and decision-log lines say their kind.
 */
import { Writable } from 'node:stream';
import { InMemorySpanExporter, SimpleSpanProcessor, TracerProvider } from '@opentelemetry/sdk-trace';
import { describe, expect, it } from 'vitest';
import { createDecisionLog } from '../../src/audit/decision-log.ts';
import { decisionFromMetadata, type OutcomeRecord } from '../../src/audit/outcome.ts';
import { auditRecord, envoyMetadata } from '../../src/audit/record.ts';
import { toProtoStruct, type JsonValue } from '../../src/core/struct.ts';
import { EXT_AUTHZ_NAMESPACE, EXT_PROC_NAMESPACE } from '../../src/envoy/processing-request.ts';
import { MeterProvider } from '@opentelemetry/sdk-metrics';
import { createOutcomes, OUTCOME_FAILURE_MESSAGE, type OutcomeFailure } from '../../src/pipeline/outcome.ts';
import type { Quotas } from '../../src/quota/quotas.ts';
import { QuotaStoreError } from '../../src/quota/store.ts';
import { installMeter } from '../../src/telemetry/metrics.ts';
import { metric, TestReader } from '../helpers/otel-metrics.ts';
import { createOutcomeTracer, OUTCOME_SPAN_NAME } from '../../src/telemetry/outcome-span.ts';

const SECRET = 'the secret launch code is 7731';
const DECISION: Record<string, JsonValue> = {
  decision_id: 'd-42',
  effect: 'allow',
  workload: 'spiffe://x/ns/a/sa/b',
  credential_id: 'key01',
  provider: 'openai-team',
  provider_system: 'openai',
  model: 'gpt-4o-mini',
  api: 'openai.chat_completions',
  stream: false,
  span_id: 'b7ad6b7169203331',
};

function metadata(decision: Record<string, JsonValue>): unknown {
  return { filter_metadata: { [EXT_AUTHZ_NAMESPACE]: toProtoStruct(decision) } };
}

const headers = (h: Record<string, string>, eos = false): unknown => ({
  request: 'response_headers',
  response_headers: { headers: { headers: Object.entries(h).map(([key, v]) => ({ key, raw_value: Buffer.from(v) })) }, end_of_stream: eos },
  metadata_context: metadata(DECISION),
  attributes: { [EXT_PROC_NAMESPACE]: toProtoStruct({ 'request.time': new Date(Date.now() - 40).toISOString(), 'request.id': 'rid-1' }) },
});
const body = (text: string, eos: boolean): unknown => ({
  request: 'response_body',
  response_body: { body: Buffer.from(text), end_of_stream: eos },
  metadata_context: metadata(DECISION),
});

const JSON_BODY = JSON.stringify({
  id: 'chatcmpl-1',
  model: 'gpt-4o-mini',
  choices: [{ index: 0, message: { content: SECRET, tool_calls: [{ function: { name: 'lookup', arguments: `{"q":"${SECRET}"}` } }] }, finish_reason: 'tool_calls' }],
  usage: { prompt_tokens: 3, completion_tokens: 4 },
});

function setup(): { records: OutcomeRecord[]; errors: unknown[]; spans: InMemorySpanExporter; outcomes: ReturnType<typeof createOutcomes> } {
  const records: OutcomeRecord[] = [];
  const errors: unknown[] = [];
  const spans = new InMemorySpanExporter();
  const provider = new TracerProvider({ spanProcessors: [new SimpleSpanProcessor({ exporter: spans })] });
  const outcomes = createOutcomes({ onOutcome: (r) => records.push(r), onError: (e) => errors.push(e) }, createOutcomeTracer(provider.getTracer('t')));
  return { records, errors, spans, outcomes };
}

const TRACEPARENT = '00-0af7651916cd43dd8448eb211c80319c-00f067aa0ba902b7-01';

describe('outcome streams', () => {
  it("one record at the end of the body: the allowlist, the reader's facts, a span child of Envoy's ext_proc span linked to the Check span", () => {
    const { records, spans, outcomes } = setup();
    const s = outcomes.open({ traceparent: TRACEPARENT });
    expect(s.message(headers({ ':status': '200', 'content-type': 'application/json', 'x-request-id': 'req_provider_1', cookie: SECRET }))).toBe('continue');
    expect(s.message(body(JSON_BODY.slice(0, 50), false))).toBe('continue');
    expect(records).toHaveLength(0);
    expect(s.message(body(JSON_BODY.slice(50), true))).toBe('end');
    s.closed();
    expect(records).toHaveLength(1);
    const r = records[0]!;
    expect(r).toMatchObject({
      'decision.id': 'd-42',
      'http.request.id': 'rid-1',
      'identity.workload': 'spiffe://x/ns/a/sa/b',
      'identity.credential_id': 'key01',
      'gen_ai.provider.name': 'openai',
      'llm.provider': 'openai-team',
      'gen_ai.request.model': 'gpt-4o-mini',
      'llm.api': 'openai.chat_completions',
      'llm.stream': false,
      'http.response.status_code': 200,
      'gen_ai.response.id': 'chatcmpl-1',
      'gen_ai.usage.input_tokens': 3,
      'gen_ai.usage.output_tokens': 4,
      'llm.response.tool_calls': ['lookup'],
      'llm.response.provider_request_id': 'req_provider_1',
      'llm.response.read': 'ok',
      'llm.response.complete': true,
      'llm.response.bytes': JSON_BODY.length,
    });
    expect(r['llm.response.time_to_first_byte_ms']).toBeGreaterThanOrEqual(30);
    expect(JSON.stringify(r)).not.toContain(SECRET);
    for (const k of Object.keys(r)) expect(k).toMatch(/^(decision|http|identity|gen_ai|llm|error)\./);
    const [span] = spans.getFinishedSpans();
    expect(span?.name).toBe(OUTCOME_SPAN_NAME);
    expect(span?.spanContext().traceId).toBe('0af7651916cd43dd8448eb211c80319c');
    expect(span?.parentSpanContext?.spanId).toBe('00f067aa0ba902b7');
    expect(span?.links.map((l) => l.context.spanId)).toEqual(['b7ad6b7169203331']);
    expect(span?.attributes['gen_ai.usage.output_tokens']).toBe(4);
    expect(JSON.stringify(span?.attributes)).not.toContain(SECRET);
  });

  it('a stream closed before the end of the body gives one record, incomplete and truncated', () => {
    const { records, outcomes } = setup();
    const s = outcomes.open({});
    s.message(headers({ ':status': '200', 'content-type': 'text/event-stream' }));
    s.message(body('data: {"id":"c","choices":[{"index":0,"delta":{"tool_calls":[{"index":0,"function":{"name":"lookup"}}]}}]}\n\ndata: {"id"', false));
    s.closed();
    s.closed();
    expect(records).toHaveLength(1);
    expect(records[0]).toMatchObject({
      'llm.response.complete': false,
      'llm.response.read': 'truncated',
      'llm.response.format': 'sse',
      'llm.response.tool_calls': ['lookup'],
      'llm.response.usage_reported': false,
    });
  });

  it('headers with end of stream, and trailers, end the record', () => {
    const { records, outcomes } = setup();
    expect(outcomes.open({}).message(headers({ ':status': '204' }, true))).toBe('end');
    const s = outcomes.open({});
    s.message(headers({ ':status': '502', 'content-type': 'text/plain' }));
    s.message(body('upstream connect error', false));
    expect(s.message({ request: 'response_trailers', response_trailers: {}, metadata_context: metadata(DECISION) })).toBe('end');
    expect(records.map((r) => [r['http.response.status_code'], r['llm.response.read'], r['error.type']])).toEqual([
      [204, 'not_read', undefined],
      [502, 'not_read', '502'],
    ]);
  });

  it('no record for a denied request or one without a decision; the stream is ended at once', () => {
    const { records, outcomes } = setup();
    const denied = { ...(headers({ ':status': '403' }) as object), metadata_context: metadata({ ...DECISION, effect: 'deny' }) };
    expect(outcomes.open({}).message(denied)).toBe('end');
    const none = { ...(headers({ ':status': '200' }) as object), metadata_context: undefined };
    const s = outcomes.open({});
    expect(s.message(none)).toBe('end');
    s.closed();
    expect(records).toEqual([]);
  });

  it('fails open: a sink that throws ends that stream only, and is reported', () => {
    const errors: unknown[] = [];
    const outcomes = createOutcomes({
      onOutcome: () => {
        throw new Error('sink down');
      },
      onError: (e) => errors.push(e),
    });
    const s = outcomes.open({});
    s.message(headers({ ':status': '200', 'content-type': 'application/json' }));
    expect(s.message(body(JSON_BODY, true))).toBe('end');
    expect(() => s.closed()).not.toThrow();
    expect(errors).toHaveLength(1);
    // The next stream works.
    const ok: OutcomeRecord[] = [];
    const next = createOutcomes({ onOutcome: (r) => ok.push(r), onError: () => undefined }).open({});
    next.message(headers({ ':status': '200', 'content-type': 'application/json' }));
    next.message(body(JSON_BODY, true));
    expect(ok).toHaveLength(1);
  });
});

describe('a failed token charge', () => {
  it('is reported and counted as the quota charge that failed (kind quota_settle), after the record was written', async () => {
    const reader = new TestReader();
    installMeter(new MeterProvider({ readers: [reader] }).getMeter('t'));
    const charged: { carry: string; member: string; usage: unknown }[] = [];
    const quotas = {
      settle: (carry: string, member: string, usage: unknown) => {
        charged.push({ carry, member, usage });
        return Promise.reject(new QuotaStoreError('the quota store failed: Command timed out'));
      },
    } as unknown as Quotas;
    const records: OutcomeRecord[] = [];
    const errors: { err: unknown; failed: OutcomeFailure }[] = [];
    const outcomes = createOutcomes({ onOutcome: (r) => records.push(r), onError: (err, failed) => errors.push({ err, failed }) }, undefined, () => quotas);
    const carry = JSON.stringify([['team-tokens', 'wl']]);
    const withQuota = (m: unknown): unknown => ({ ...(m as object), metadata_context: metadata({ ...DECISION, quota: carry }) });
    const s = outcomes.open({});
    s.message(withQuota(headers({ ':status': '200', 'content-type': 'application/json' })));
    expect(s.message(withQuota(body(JSON_BODY, true)))).toBe('end');
    await new Promise((r) => setImmediate(r));
    expect(records).toHaveLength(1);
    expect(charged).toEqual([{ carry, member: 'd-42', usage: { input: 3, output: 4 } }]);
    expect(errors).toEqual([{ err: expect.any(QuotaStoreError), failed: 'quota_settle' }]);
    const collected = await reader.collect();
    expect(metric(collected.resourceMetrics, 'llm_authz.outcome.errors', { kind: 'quota_settle' })).toBe(1);
    expect(metric(collected.resourceMetrics, 'llm_authz.outcome.errors', { kind: 'exception' }) ?? 0).toBe(0);
    // The log line names the token charge, not the record.
    expect(OUTCOME_FAILURE_MESSAGE[errors[0]?.failed ?? 'record']).toMatch(/^charging the response's tokens to its quotas failed/);
  });
});

describe('the join: decision metadata', () => {
  it('envoyMetadata gives what decisionFromMetadata reads back (the API schema and stream for the reader)', () => {
    const record = auditRecord({
      decisionId: 'd-1',
      effect: 'allow',
      reason: 'allowed',
      phase: 'policy',
      ctx: undefined,
      identity: undefined,
      llm: {
        api: 'anthropic',
        schema: 'anthropic.messages',
        operation: 'chat',
        provider: undefined,
        model: 'claude-x',
        stream: true,
        maxTokens: 5,
        temperature: undefined,
        tools: [],
        toolChoice: undefined,
        endUser: undefined,
        messageCount: 1,
        inputBytes: 9,
        bodyComplete: true,
        storedContext: [],
        pathParams: {},
      },
      policyVersion: 'v',
      rule: 'r',
      matchedRules: [],
      provider: { name: 'anthropic', profile: { system: 'anthropic' } },
      durationMs: 1,
    });
    const back = decisionFromMetadata({ ...envoyMetadata(record), span_id: '0123456789abcdef' });
    expect(back).toMatchObject({
      decisionId: 'd-1',
      effect: 'allow',
      provider: 'anthropic',
      providerSystem: 'anthropic',
      model: 'claude-x',
      api: 'anthropic.messages',
      stream: true,
      checkSpanId: '0123456789abcdef',
    });
    expect(decisionFromMetadata({ effect: 'allow' })).toBeUndefined();
    expect(decisionFromMetadata({ decision_id: 'x', span_id: 'not-hex' })?.checkSpanId).toBeUndefined();
  });
});

describe('decision-log lines say their kind', () => {
  it('decision and outcome lines', async () => {
    const chunks: string[] = [];
    const sink = new Writable({
      write(c, _e, cb) {
        chunks.push(String(c));
        cb();
      },
    });
    const log = createDecisionLog(sink, { flushMs: 0 });
    log.write(
      auditRecord({
        decisionId: 'd-1',
        effect: 'deny',
        reason: 'no_credentials',
        phase: 'identity',
        ctx: undefined,
        identity: undefined,
        llm: undefined,
        policyVersion: undefined,
        rule: undefined,
        matchedRules: [],
        provider: undefined,
        durationMs: 1,
      }),
      { traceId: 't', spanId: 's' },
    );
    log.writeOutcome(
      {
        'decision.id': 'd-1',
        'llm.response.usage_reported': false,
        'llm.response.tool_call_count': 0,
        'llm.response.format': 'json',
        'llm.response.read': 'ok',
        'llm.response.complete': true,
        'llm.response.bytes': 2,
        'llm.response.duration_ms': 1,
      },
      { traceId: 't', spanId: 's2' },
    );
    await log.close();
    const lines = chunks
      .join('')
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as Record<string, unknown>);
    expect(lines.map((l) => [l['kind'], l['decision.id'], l['span_id']])).toEqual([
      ['decision', 'd-1', 's'],
      ['outcome', 'd-1', 's2'],
    ]);
    expect(Object.keys(lines[1]!).slice(0, 2)).toEqual(['time', 'kind']);
  });
});

describe('README names every outcome field', () => {
  it('each key of a full outcome record is in the "Audit fields" section', async () => {
    const { readFileSync } = await import('node:fs');
    const path = await import('node:path');
    const { ROOT } = await import('../../devstack/tools.ts');
    const { outcomeRecord } = await import('../../src/audit/outcome.ts');
    const readme = readFileSync(path.join(ROOT, 'README.md'), 'utf8');
    const section = readme.slice(readme.indexOf('## Audit fields'), readme.indexOf('## Finding a denied request'));
    const full = outcomeRecord({
      decision: {
        decisionId: 'd',
        effect: 'allow',
        workload: 'w',
        agent: 'a',
        user: 'u',
        credentialId: 'c',
        provider: 'p',
        providerSystem: 's',
        model: 'm',
        api: 'x',
        stream: true,
        checkSpanId: undefined,
      },
      requestId: 'r',
      status: 500,
      format: 'sse',
      read: 'ok',
      facts: {
        responseId: 'i',
        responseModel: 'm',
        finishReasons: ['stop'],
        toolCalls: ['t'],
        toolCallCount: 1,
        usage: { input: 1, output: 2, cacheRead: 3, cacheCreation: 4, reasoning: 5 },
        errorType: 'e',
        finished: true,
      },
      complete: true,
      bytes: 1,
      providerRequestId: 'q',
      ttfbMs: 1,
      durationMs: 1,
    });
    expect(Object.keys(full)).toHaveLength(31);
    expect(Object.keys(full).filter((k) => !section.includes(`\`${k}\``))).toEqual([]);
  });
});

describe('the inventory reads outcome lines as llm-authz writes them', () => {
  it('every field of a full outcome line is known to it, and it reads the tokens and tool calls', async () => {
    const { decisionLine } = await import('../../src/audit/decision-log.ts');
    const { outcomeRecord } = await import('../../src/audit/outcome.ts');
    const { parseLogLine } = await import('../../src/inventory/log-record.ts');
    const record = outcomeRecord({
      decision: {
        decisionId: 'd-9',
        effect: 'allow',
        workload: 'w',
        agent: 'a',
        user: 'u',
        credentialId: 'c',
        provider: 'p',
        providerSystem: 's',
        model: 'm',
        api: 'openai.chat_completions',
        stream: true,
        checkSpanId: undefined,
      },
      requestId: 'r',
      status: 429,
      format: 'json',
      read: 'ok',
      facts: {
        responseId: 'i',
        responseModel: 'm',
        finishReasons: ['stop'],
        toolCalls: ['lookup', 'send'],
        toolCallCount: 2,
        usage: { input: 10, output: 20, cacheRead: 3, cacheCreation: 4, reasoning: 5 },
        errorType: 'rate_limit_error',
        finished: true,
      },
      complete: true,
      bytes: 1,
      providerRequestId: 'q',
      ttfbMs: 1,
      durationMs: 1,
    });
    const parsed = parseLogLine(decisionLine(record, { traceId: 't'.repeat(32), spanId: 's'.repeat(16) }, 'outcome').trim());
    expect(parsed.ok).toBe(true);
    if (!parsed.ok) return;
    expect(parsed.unknown).toEqual([]);
    expect(parsed.event).toMatchObject({ kind: 'outcome', decisionId: 'd-9', inputTokens: 10, outputTokens: 20, toolCalls: ['lookup', 'send'] });
  });
});
