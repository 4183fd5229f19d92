import { SpanKind, SpanStatusCode, TraceFlags, type AttributeValue, type Attributes, type Link, type SpanContext } from '@opentelemetry/api';
import { TraceState } from '@opentelemetry/core';
import { ProtobufTraceSerializer } from '@opentelemetry/otlp-transformer';
import { resourceFromAttributes, type Resource } from '@opentelemetry/resources';
import { InMemorySpanExporter, type ReadableSpan, type TimedEvent } from '@opentelemetry/sdk-trace';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { checkRequest } from '../../devstack/grpc-client.ts';
import { caseRng, type Rng } from '../../fuzz/rng.ts';
import { createCheck } from '../../src/pipeline/check.ts';
import { createTraceSerializer, TraceRequestEncoder } from '../../src/telemetry/otlp-trace-encoder.ts';
import { startTelemetry, type Telemetry } from '../../src/telemetry/otel.ts';
import { telemetrySchema } from '../../src/telemetry/schema.ts';
import { UNIT_KEY, unitRuntime } from '../helpers/runtime.ts';

/** The library's encoding, the reference: the encoder must give the same bytes. */
const reference = (spans: ReadableSpan[]): Buffer => Buffer.from(ProtobufTraceSerializer.serializeRequest(spans) ?? new Uint8Array());

const hex = (rng: Rng, n: number): string => Array.from({ length: n }, () => '0123456789abcdef'[rng.int(16)]).join('');

const STRINGS = ['', 'allow', 'denied_by_policy', 'gpt-4o-mini', 'spiffe://unit.example/ns/a/sa/b', 'modèle-é', '模型', 'emoji 🚀', 'lone \ud800 surrogate'];

function string(rng: Rng): string {
  if (rng.chance(0.6)) return rng.pick(STRINGS);
  // Lengths around the cache's 128-character bound and the 1- and 2-byte varint lengths.
  const n = rng.pick([1, 100, 127, 128, 129, 200, 5000, 20_000]);
  const unit = rng.pick(['a', 'é', '模', '🚀']);
  return unit.repeat(Math.ceil(n / unit.length)).slice(0, n);
}

function scalar(rng: Rng): AttributeValue {
  switch (rng.int(6)) {
    case 0:
      return string(rng);
    case 1:
      return rng.chance(0.5);
    case 2:
      return rng.pick([0, 1, 127, 128, 300, 2 ** 31, 2 ** 32 - 1, 2 ** 32, 2 ** 40 + 7, -1, -300, -(2 ** 40), Number.MAX_SAFE_INTEGER]);
    case 3:
      return rng.pick([0.5, -2.25, 1e300, Number.NaN, Number.POSITIVE_INFINITY, 2 ** 63, -(2 ** 64)]);
    case 4:
      return rng.pick([[], ['a', 'b'], [1, 2, 3], [true, false], ['x', null, 'y'] as unknown as string[]]);
    default:
      return string(rng);
  }
}

function attributes(rng: Rng, n: number): Attributes {
  const a: Attributes = {};
  for (let i = 0; i < n; i++) a[rng.chance(0.7) ? `key.${rng.int(12)}` : string(rng)] = scalar(rng);
  // Values the SDK's types do not name but the library encodes: bytes and nested maps.
  if (rng.chance(0.1)) (a as Record<string, unknown>)['bytes'] = new Uint8Array([0, 1, 255]);
  if (rng.chance(0.1)) (a as Record<string, unknown>)['map'] = { inner: 'v', n: 3, deeper: { list: [1, 'two'] } };
  return a;
}

function context(rng: Rng): SpanContext {
  const c: SpanContext = { traceId: hex(rng, 32), spanId: hex(rng, 16), traceFlags: rng.pick([TraceFlags.NONE, TraceFlags.SAMPLED]) };
  if (rng.chance(0.3)) c.traceState = new TraceState(rng.chance(0.5) ? 'envoy=1' : 'a=b,c=d');
  if (rng.chance(0.3)) c.isRemote = rng.chance(0.5);
  return c;
}

function span(rng: Rng, resource: Resource, scope: ReadableSpan['instrumentationScope']): ReadableSpan {
  const ctx = context(rng);
  const parent = rng.chance(0.6) ? context(rng) : undefined;
  const events: TimedEvent[] = Array.from({ length: rng.int(3) }, () => ({
    name: rng.pick(['identity', 'policy', 'é']),
    time: [1_700_000_000 + rng.int(1e6), rng.int(1e9)],
    ...(rng.chance(0.8) && { attributes: attributes(rng, rng.int(3)) }),
    droppedAttributesCount: rng.int(2),
  }));
  const links: Link[] = Array.from({ length: rng.int(2) }, () => ({ context: context(rng), ...(rng.chance(0.5) && { attributes: attributes(rng, 2) }) }));
  const start: [number, number] = [rng.pick([0, 1, 1_700_000_000, 2 ** 32 + 5]), rng.int(1e9)];
  return {
    name: rng.pick(['envoy.service.auth.v3.Authorization/Check', 'llm-authz.outcome', 'ünïcode']),
    kind: rng.pick([SpanKind.INTERNAL, SpanKind.SERVER, SpanKind.CLIENT, SpanKind.PRODUCER, SpanKind.CONSUMER]),
    spanContext: () => ctx,
    ...(parent && { parentSpanContext: parent }),
    startTime: start,
    endTime: [start[0] + rng.int(3), rng.int(1e9)],
    status: rng.chance(0.5) ? { code: SpanStatusCode.UNSET } : { code: SpanStatusCode.ERROR, ...(rng.chance(0.7) && { message: string(rng) }) },
    attributes: attributes(rng, rng.int(40)),
    links,
    events,
    duration: [0, 1],
    ended: true,
    resource,
    instrumentationScope: scope,
    droppedAttributesCount: rng.int(3),
    droppedEventsCount: rng.int(2),
    droppedLinksCount: rng.int(2),
  };
}

describe('OTLP trace request encoder', () => {
  it('gives the library serializer’s bytes for 400 generated batches (every attribute type, events, links, several resources and scopes), its cache warm or cold', () => {
    const warm = new TraceRequestEncoder();
    let compared = 0;
    for (let i = 0; i < 400; i++) {
      const rng = caseRng(0x07e1, i);
      const resources = [resourceFromAttributes({ 'service.name': 'llm-authz', 'k8s.pod.name': string(rng) }), resourceFromAttributes(attributes(rng, 5))];
      const scopes = [{ name: 'llm-authz', version: '1.2.3' }, { name: 'other' }, { name: 'with-schema', version: '1', schemaUrl: 'https://opentelemetry.io/schemas/1.30.0' }];
      const spans = Array.from({ length: 1 + rng.int(30) }, () => span(rng, rng.pick(resources), rng.pick(scopes)));
      const expected = reference(spans);
      expect(Buffer.from(warm.encode(spans)).equals(expected), `batch ${i}`).toBe(true);
      expect(Buffer.from(new TraceRequestEncoder().encode(spans)).equals(expected), `batch ${i}, a new encoder`).toBe(true);
      compared++;
    }
    expect(compared).toBe(400);
  });

  it('keeps giving the same bytes past its cache bounds (more distinct values per key, more keys than it keeps)', () => {
    const encoder = new TraceRequestEncoder();
    const resource = resourceFromAttributes({ 'service.name': 'llm-authz' });
    const scope = { name: 'llm-authz' };
    const rng = caseRng(0xb0b, 0);
    for (let batch = 0; batch < 6; batch++) {
      const spans = Array.from({ length: 200 }, (_, i) => {
        const s = span(rng, resource, scope);
        const extra: Attributes = { 'decision.id': `id-${batch}-${i}` };
        for (let k = 0; k < 3; k++) extra[`key-${batch}-${i}-${k}`] = 'v';
        return { ...s, attributes: { ...s.attributes, ...extra } };
      });
      expect(Buffer.from(encoder.encode(spans)).equals(reference(spans)), `batch ${batch}`).toBe(true);
    }
  });

  it('returns a copy: a request already handed out is not changed by the next encode', () => {
    const encoder = new TraceRequestEncoder();
    const resource = resourceFromAttributes({ 'service.name': 'llm-authz' });
    const a = [span(caseRng(1, 1), resource, { name: 's' })];
    const b = [span(caseRng(1, 2), resource, { name: 's' })];
    const first = encoder.encode(a);
    const before = Buffer.from(first);
    encoder.encode(b);
    expect(Buffer.from(first).equals(before)).toBe(true);
  });

  it('the comparison can fail: one changed attribute value, or a cached value under another key, gives other bytes', () => {
    const encoder = new TraceRequestEncoder();
    const resource = resourceFromAttributes({ 'service.name': 'llm-authz' });
    const base = span(caseRng(2, 1), resource, { name: 's' });
    const one = { ...base, attributes: { 'decision.effect': 'allow', 'decision.reason': 'allowed' } };
    const other = { ...base, attributes: { 'decision.effect': 'deny', 'decision.reason': 'allowed' } };
    const swapped = { ...base, attributes: { 'decision.effect': 'allowed', 'decision.reason': 'allow' } };
    const a = Buffer.from(encoder.encode([one]));
    expect(a.equals(reference([one]))).toBe(true);
    expect(Buffer.from(encoder.encode([other])).equals(a)).toBe(false);
    expect(Buffer.from(encoder.encode([swapped])).equals(reference([swapped]))).toBe(true);
    expect(Buffer.from(encoder.encode([swapped])).equals(a)).toBe(false);
  });

  it('the serializer decodes export responses as the library does', () => {
    const s = createTraceSerializer(ProtobufTraceSerializer);
    // ExportTraceServiceResponse { partial_success { rejected_spans: 3, error_message: "x" } }
    const response = new Uint8Array([0x0a, 0x05, 0x08, 0x03, 0x12, 0x01, 0x78]);
    expect(s.deserializeResponse(response)).toEqual(ProtobufTraceSerializer.deserializeResponse(response));
  });

  describe('with the spans serve makes', () => {
    const spans = new InMemorySpanExporter();
    let tel: Telemetry;
    beforeAll(async () => {
      tel = await startTelemetry(telemetrySchema.parse({ traces: { scheduled_delay_ms: 1 } }), { version: '9.9.9', env: { OTEL_SERVICE_NAME: 'authz-unit' }, spanExporter: spans });
    });
    afterAll(async () => {
      await tel.shutdown();
    });

    it('encodes real Check spans (allow, deny, with and without Envoy’s trace context) as the library does', async () => {
      const check = createCheck(() => unitRuntime(), { onDecision: () => {}, onError: () => {} }, tel.tracer);
      const body = (model: string) => JSON.stringify({ model, messages: [{ role: 'user', content: 'hello' }] });
      for (const [model, key] of [
        ['gpt-4o-mini', UNIT_KEY],
        ['gpt-4o-mini', 'not-a-key'],
        ['not-allowed-model', UNIT_KEY],
      ] as const) {
        const req = checkRequest({ headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' }, body: body(model) });
        await check(req);
        await check(req, { traceparent: '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01', tracestate: 'envoy=1' });
      }
      await tel.flush();
      const done = spans.getFinishedSpans();
      expect(done).toHaveLength(6);
      expect(Object.keys(done[0]!.attributes).length).toBeGreaterThan(20);
      const encoder = new TraceRequestEncoder();
      for (let round = 0; round < 2; round++) expect(Buffer.from(encoder.encode(done)).equals(reference(done)), `round ${round}`).toBe(true);
    });
  });
});
