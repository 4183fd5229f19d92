/**
 * The span of one Check: a SERVER span, child of Envoy's ext_authz client span whose W3C
 * context (traceparent/tracestate) arrives in the gRPC metadata; a new root span without it.
 * Its attributes are exactly the audit record (src/audit/record.ts), nothing else.
 */
import { ROOT_CONTEXT, SpanKind, SpanStatusCode, trace, type Attributes, type Span, type TextMapGetter, type Tracer } from '@opentelemetry/api';
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
  /** Sets the audit fields as attributes, the status (ERROR with the reason when error), and ends the span. */
  end(attributes: Attributes, error: string | undefined): void;
}

export interface CheckTracer {
  start(carrier: TraceCarrier | undefined): CheckSpan;
}

export const CHECK_SPAN_NAME = 'envoy.service.auth.v3.Authorization/Check';

const getter: TextMapGetter<TraceCarrier> = {
  keys: (c) => Object.keys(c),
  get: (c, key) => (key === 'traceparent' ? c.traceparent : key === 'tracestate' ? c.tracestate : undefined),
};

const propagator = new W3CTraceContextPropagator();
const spanOptions = { kind: SpanKind.SERVER } as const;

function epochMs(perfNow: number): number {
  return performance.timeOrigin + perfNow;
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
    this.#span.addEvent(name, { duration_ms: Math.round((end - start) * 1000) / 1000, result }, epochMs(end));
  }
  end(attributes: Attributes, error: string | undefined): void {
    this.#span.setAttributes(attributes);
    if (error !== undefined) this.#span.setStatus({ code: SpanStatusCode.ERROR, message: error });
    this.#span.end();
  }
}

export function createCheckTracer(tracer: Tracer): CheckTracer {
  return {
    start(carrier) {
      const parent = carrier?.traceparent ? propagator.extract(ROOT_CONTEXT, carrier, getter) : ROOT_CONTEXT;
      return new OtelCheckSpan(tracer.startSpan(CHECK_SPAN_NAME, spanOptions, parent));
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
