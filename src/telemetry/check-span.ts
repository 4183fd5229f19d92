/**
 * The span of one Check: a SERVER span, child of Envoy's ext_authz client span whose W3C
 * context (traceparent/tracestate) arrives in the gRPC metadata; a new root span without it.
 * Its attributes are exactly the audit record (src/audit/record.ts), nothing else.
 */
import {
  isSpanContextValid,
  ROOT_CONTEXT,
  SpanKind,
  SpanStatusCode,
  trace,
  TraceFlags,
  type Attributes,
  type AttributeValue,
  type HrTime,
  type Link,
  type SpanContext,
  type SpanStatus,
  type TextMapGetter,
  type Tracer,
} from '@opentelemetry/api';
import { hrTimeDuration, millisToHrTime, W3CTraceContextPropagator, type InstrumentationScope } from '@opentelemetry/core';
import type { Resource } from '@opentelemetry/resources';
import { RandomIdGenerator, SamplingDecision, type ReadableSpan, type Sampler, type SpanProcessor, type TimedEvent } from '@opentelemetry/sdk-trace';
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
const GRPC_OK = 0;

/** What the Check spans need of the SDK: its sampler, where ended spans go, and what they carry. */
export interface CheckSpanSetup {
  readonly sampler: Sampler;
  /** The span processor (the export queue); none: spans are made and dropped. */
  readonly processor: Pick<SpanProcessor, 'onEnd'> | undefined;
  readonly resource: Resource;
  readonly scope: InstrumentationScope;
}

/** performance.timeOrigin as an HrTime (it does not change). */
const TIME_ORIGIN = millisToHrTime(performance.timeOrigin);

/**
 * The SDK's hrTime(ms) (core: the time origin and `ms` each made an HrTime, then added), the same
 * numbers in one array instead of three.
 */
function sinceTimeOrigin(ms: number): HrTime {
  let seconds = TIME_ORIGIN[0] + Math.trunc(ms / 1e3);
  let nanos = TIME_ORIGIN[1] + Math.round((ms % 1e3) * 1e6);
  if (nanos >= 1e9) {
    nanos -= 1e9;
    seconds += 1;
  }
  return [seconds, nanos];
}

const UNSET: SpanStatus = Object.freeze({ code: SpanStatusCode.UNSET });
const NO_LINKS: Link[] = [];
const NO_ATTRIBUTES: Attributes = Object.freeze({});

/**
 * The Check's span as the SDK's span processors and exporters read it (ReadableSpan), made here
 * rather than by the SDK's Tracer and Span: those validate and copy what they are given, keep a
 * context, a sampler's attribute map, link and metric bookkeeping per span, and made 2.9 KiB per
 * Check where this makes 0.8 (bench/alloc.ts). What the SDK decides stays the SDK's: its sampler
 * decides (a parent's sampled flag), its id generator makes the ids, its clock functions place the
 * times (a performance.now() value on the span's own clock, as SpanImpl does), its batch processor
 * queues and its exporter serializes. The outcome spans (outcome-span.ts) are the SDK's own.
 */
class CheckSpanData implements ReadableSpan, CheckSpan {
  readonly name = CHECK_SPAN_NAME;
  readonly kind = SpanKind.SERVER;
  readonly ids: TraceIds;
  readonly parentSpanContext?: SpanContext;
  readonly startTime: HrTime;
  endTime: HrTime;
  duration: HrTime;
  status: SpanStatus = UNSET;
  attributes: Attributes;
  readonly links: Link[] = NO_LINKS;
  readonly events: TimedEvent[] = [];
  ended = false;
  readonly resource: Resource;
  readonly instrumentationScope: InstrumentationScope;
  droppedAttributesCount = 0;
  readonly droppedEventsCount = 0;
  readonly droppedLinksCount = 0;
  readonly #context: SpanContext;
  readonly #setup: CheckSpanSetup;
  /** performance.now() -> milliseconds since the epoch, fixed at the start (SpanImpl's _performanceOffset). */
  readonly #offset: number;

  constructor(setup: CheckSpanSetup, context: SpanContext, parent: SpanContext | undefined, attributes: Attributes, startTime: number) {
    this.#setup = setup;
    this.#context = context;
    this.ids = { traceId: context.traceId, spanId: context.spanId };
    if (parent !== undefined) this.parentSpanContext = parent;
    this.attributes = attributes;
    this.resource = setup.resource;
    this.instrumentationScope = setup.scope;
    this.#offset = Date.now() - (performance.now() + performance.timeOrigin);
    this.startTime = this.#time(startTime);
    this.endTime = this.startTime;
    this.duration = [0, 0];
  }

  spanContext(): SpanContext {
    return this.#context;
  }

  /** A performance.now() value as the span's time (SpanImpl's _getTime for such a value). */
  #time(at: number): HrTime {
    return at <= performance.now() ? sinceTimeOrigin(at + this.#offset) : millisToHrTime(at);
  }

  phase(name: 'identity' | 'policy', start: number, end: number, result: string): void {
    if (this.ended) return;
    // A performance.now() value: placed on the span's own clock (a wall-clock value from
    // performance.timeOrigin drifts from it and drew events after the span's end).
    this.events.push({ name, time: this.#time(end), attributes: { duration_ms: Math.round((end - start) * 1000) / 1000, result }, droppedAttributesCount: 0 });
  }

  end(attributes: Attributes, error: string | undefined): void {
    if (this.ended) return;
    // The audit record's values are attribute values already (strings clipped to 512 characters,
    // lists to 64 entries, within the limits of otel.ts), and the map is the caller's to give
    // away: it becomes the span's map, with the RPC attributes added (a copy of 31 attributes into
    // another map cost 2.9 KiB per Check, and the exporter's walk over the hash table it became 1).
    const own = attributes as Record<string, AttributeValue>;
    if (this.attributes !== NO_ATTRIBUTES) Object.assign(own, this.attributes);
    own['rpc.system'] = 'grpc';
    own['rpc.service'] = RPC_SERVICE;
    own['rpc.method'] = 'Check';
    own['rpc.grpc.status_code'] = GRPC_OK;
    this.attributes = own;
    if (error !== undefined) this.status = { code: SpanStatusCode.ERROR, message: error };
    // Ended on the same clock as its start and its events.
    const endTime = this.#time(performance.now());
    const duration = hrTimeDuration(this.startTime, endTime);
    if (duration[0] < 0) {
      this.endTime = [this.startTime[0], this.startTime[1]];
      this.duration = [0, 0];
    } else {
      this.endTime = endTime;
      this.duration = duration;
    }
    this.ended = true;
    this.#setup.processor?.onEnd(this);
  }
}

/** The SDK tracer's instrumentation scope object (the one its spans carry), else an equal one. */
export function scopeOf(tracer: Tracer, name: string, version: string): InstrumentationScope {
  return (tracer as Partial<{ instrumentationScope: InstrumentationScope }>).instrumentationScope ?? { name, version };
}

/** A span the sampler did not record: its ids only (the SDK's non-recording span). */
function unrecorded(context: SpanContext): CheckSpan {
  return { ids: { traceId: context.traceId, spanId: context.spanId }, phase() {}, end() {} };
}

export function createCheckTracer(setup: CheckSpanSetup): CheckTracer {
  const ids = new RandomIdGenerator();
  return {
    start(carrier, startTime = performance.now()) {
      // Envoy's span, when its context came with the call (Tracer.startSpan's parent handling).
      const context = carrier?.traceparent ? propagator.extract(ROOT_CONTEXT, carrier, getter) : ROOT_CONTEXT;
      const remote = carrier?.traceparent ? trace.getSpanContext(context) : undefined;
      const parent = remote !== undefined && isSpanContextValid(remote) ? remote : undefined;
      const traceId = parent?.traceId ?? ids.generateTraceId();
      const spanId = ids.generateSpanId();
      const sampling = setup.sampler.shouldSample(context, traceId, CHECK_SPAN_NAME, SpanKind.SERVER, NO_ATTRIBUTES, NO_LINKS);
      const traceState = sampling.traceState ?? parent?.traceState;
      const traceFlags = sampling.decision === SamplingDecision.RECORD_AND_SAMPLED ? TraceFlags.SAMPLED : TraceFlags.NONE;
      const spanContext: SpanContext = traceState === undefined ? { traceId, spanId, traceFlags } : { traceId, spanId, traceFlags, traceState };
      if (sampling.decision === SamplingDecision.NOT_RECORD) return unrecorded(spanContext);
      const attributes = sampling.attributes !== undefined && Object.keys(sampling.attributes).length > 0 ? { ...sampling.attributes } : NO_ATTRIBUTES;
      return new CheckSpanData(setup, spanContext, parent, attributes, startTime);
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
