/**
 * The span of one outcome record: a SERVER span for the ext_proc stream that carried the
 * response, a child of Envoy's ext_proc client span (Envoy puts its W3C traceparent in the
 * Process call's gRPC metadata, as for Check), so it sits in the request's trace next to the
 * Check span, with a link to the Check span (its id travels in the decision's metadata). It
 * starts when the response headers arrive and ends when the response does, so its duration is
 * the response's. Its attributes are exactly the outcome record.
 */
import { ROOT_CONTEXT, SpanKind, SpanStatusCode, trace, TraceFlags, type Attributes, type Link, type Span, type TextMapGetter, type Tracer } from '@opentelemetry/api';
import { W3CTraceContextPropagator } from '@opentelemetry/core';
import type { TraceCarrier, TraceIds } from './check-span.ts';

export const OUTCOME_SPAN_NAME = 'envoy.service.ext_proc.v3.ExternalProcessor/Process';

export interface OutcomeSpan {
  readonly ids: TraceIds;
  end(attributes: Attributes, error: string | undefined): void;
}

export interface OutcomeTracer {
  /** `checkSpanId`: the decision's Check span, linked when given. */
  start(carrier: TraceCarrier | undefined, checkSpanId: string | undefined): OutcomeSpan;
}

const getter: TextMapGetter<TraceCarrier> = {
  keys: (c) => Object.keys(c),
  get: (c, key) => (key === 'traceparent' ? c.traceparent : key === 'tracestate' ? c.tracestate : undefined),
};
const propagator = new W3CTraceContextPropagator();

function parentOf(carrier: TraceCarrier | undefined): ReturnType<typeof propagator.extract> {
  return carrier?.traceparent ? propagator.extract(ROOT_CONTEXT, carrier, getter) : ROOT_CONTEXT;
}

export function createOutcomeTracer(tracer: Tracer): OutcomeTracer {
  return {
    start(carrier, checkSpanId) {
      const parent = parentOf(carrier);
      const traceId = trace.getSpanContext(parent)?.traceId;
      const links: Link[] = traceId !== undefined && checkSpanId !== undefined ? [{ context: { traceId, spanId: checkSpanId, traceFlags: TraceFlags.SAMPLED } }] : [];
      const span: Span = tracer.startSpan(OUTCOME_SPAN_NAME, { kind: SpanKind.SERVER, links }, parent);
      const c = span.spanContext();
      return {
        ids: { traceId: c.traceId, spanId: c.spanId },
        end(attributes, error) {
          span.setAttributes(attributes);
          if (error !== undefined) span.setStatus({ code: SpanStatusCode.ERROR, message: error });
          span.end();
        },
      };
    },
  };
}

/** When telemetry is not set up: no spans, the trace id of the incoming context. */
export const noopOutcomeTracer: OutcomeTracer = {
  start(carrier) {
    const c = trace.getSpanContext(parentOf(carrier));
    return { ids: { traceId: c?.traceId ?? '', spanId: '' }, end() {} };
  },
};
