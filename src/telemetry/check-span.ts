/**
 * The span of one Check: a SERVER span, child of Envoy's ext_authz client span whose W3C
 * context (traceparent/tracestate) arrives in the gRPC metadata; a new root span without it.
 * Its attributes are exactly the audit record (src/audit/record.ts), nothing else.
 */
import { ROOT_CONTEXT, SpanKind, SpanStatusCode, trace, type Attributes, type AttributeValue, type Span, type TextMapGetter, type Tracer } from '@opentelemetry/api';
import { W3CTraceContextPropagator } from '@opentelemetry/core';
import { performance } from 'node:perf_hooks';

/** The W3C trace context of the incoming call. */
export interface TraceCarrier {
  readonly traceparent?: string | undefined;
  readonly tracestate?: string | undefined;
}

export interface TraceIds {
  readonly traceId: string;
  readonly spanId: string;
}

export interface CheckSpan {
  readonly ids: TraceIds;
  /** A phase event: name, start and end (performance.now() values), and a result (ok or a reason code). */
  phase(name: 'identity' | 'policy', start: number, end: number, result: string): void;
  /**
   * Sets the audit fields as attributes, the status (ERROR with the reason when error), and ends
   * the span. `attributes` is handed over: the span keeps it (and adds the RPC attributes to it),
   * so the caller passes a map of its own that it does not use again.
   */
  end(attributes: Attributes, error: string | undefined): void;
}

export interface CheckTracer {
  /** Starts the span at `startTime` (a performance.now() value), by default now. */
  start(carrier: TraceCarrier | undefined, startTime?: number): CheckSpan;
}

export const CHECK_SPAN_NAME = 'envoy.service.auth.v3.Authorization/Check';

const getter: TextMapGetter<TraceCarrier> = {
  keys: (c) => Object.keys(c),
  get: (c, key) => (key === 'traceparent' ? c.traceparent : key === 'tracestate' ? c.tracestate : undefined),
};

const propagator = new W3CTraceContextPropagator();

/** OpenTelemetry RPC attributes of the Check call (the decision itself travels inside an OK response). */
const RPC_SERVICE = 'envoy.service.auth.v3.Authorization';
const RPC_ATTRIBUTES: Attributes = { 'rpc.system': 'grpc', 'rpc.service': RPC_SERVICE, 'rpc.method': 'Check' };
const GRPC_OK = 0;

/**
 * The fields of the SDK's span (sdk-trace SpanImpl) that hold its attributes: the map its
 * exporters read (ReadableSpan.attributes) and the count its attribute limit is checked against.
 */
interface SdkSpanFields {
  attributes: Attributes;
  _attributesCount: number;
}

class OtelCheckSpan implements CheckSpan {
  readonly #span: Span;
  readonly ids: TraceIds;
  constructor(span: Span) {
    this.#span = span;
    const c = span.spanContext();
    this.ids = { traceId: c.traceId, spanId: c.spanId };
  }
  phase(name: 'identity' | 'policy', start: number, end: number, result: string): void {
    // A performance.now() value: the SDK places it on the span's own clock (a wall-clock value
    // from performance.timeOrigin drifts from it and drew events after the span's end).
    this.#span.addEvent(name, { duration_ms: Math.round((end - start) * 1000) / 1000, result }, end);
  }
  end(attributes: Attributes, error: string | undefined): void {
    // The SDK's span keeps its attributes in the map its exporters read (ReadableSpan.attributes).
    // The audit record's values are attribute values already (strings clipped to 512 characters,
    // lists to 64 entries, under the 1,024 and 128 limits of otel.ts), so they go in as they are:
    // setAttributes validates and copies each one, with an options object and a WeakSet per
    // attribute (bench/alloc.ts: 8.4 of the 110 KiB a Check allocated). The map given here is the
    // caller's to give away, so it becomes the span's map, the RPC attributes added to it: copied
    // into the SDK's own (empty) map, attribute by attribute, it turned into a hash table and cost
    // 2.9 KiB per Check, and the OTLP serializer's walk over a hash table a further 1 KiB.
    const sdk = this.#span.isRecording() ? (this.#span as Partial<SdkSpanFields>) : undefined;
    if (sdk?.attributes !== undefined && sdk._attributesCount === 0) {
      const own = attributes as Record<string, AttributeValue>;
      own['rpc.system'] = 'grpc';
      own['rpc.service'] = RPC_SERVICE;
      own['rpc.method'] = 'Check';
      own['rpc.grpc.status_code'] = GRPC_OK;
      let count = 0;
      for (const _ in own) count++;
      sdk.attributes = own;
      sdk._attributesCount = count;
    } else {
      this.#span.setAttributes(RPC_ATTRIBUTES);
      this.#span.setAttributes(attributes);
      this.#span.setAttribute('rpc.grpc.status_code', GRPC_OK);
    }
    if (error !== undefined) this.#span.setStatus({ code: SpanStatusCode.ERROR, message: error });
    // Ended on the same clock as its start and its events: without a time, an SDK span given a
    // start time ends at Date.now() (whole milliseconds), which can fall before its events.
    this.#span.end(performance.now());
  }
}

export function createCheckTracer(tracer: Tracer): CheckTracer {
  return {
    start(carrier, startTime = performance.now()) {
      const parent = carrier?.traceparent ? propagator.extract(ROOT_CONTEXT, carrier, getter) : ROOT_CONTEXT;
      // The RPC attributes are set with the audit fields at the end: given here, the SDK would
      // validate and copy them twice per span (no sampler of llm-authz reads attributes).
      return new OtelCheckSpan(tracer.startSpan(CHECK_SPAN_NAME, { kind: SpanKind.SERVER, startTime }, parent));
    },
  };
}

/** A tracer for when telemetry is not set up: no spans, ids from the incoming context or zeros. */
export const noopCheckTracer: CheckTracer = {
  start(carrier) {
    const parent = carrier?.traceparent ? propagator.extract(ROOT_CONTEXT, carrier, getter) : ROOT_CONTEXT;
    const c = trace.getSpanContext(parent);
    const ids = { traceId: c?.traceId ?? '', spanId: '' };
    return { ids, phase() {}, end() {} };
  },
};
