/**
 * Spans and decision metrics for the start-up warm-up's Checks, made by the same SDK code as the
 * real ones, that go nowhere: a tracer provider whose batch processor hands its spans to an
 * exporter that drops them, and a meter provider whose only reader is never collected, with
 * instruments of the same names, kinds and buckets as metrics.ts's. Neither the configured
 * exporters, the span queue nor the Prometheus endpoint ever sees them. shutdown() ends both.
 */
import { ExportResultCode } from '@opentelemetry/core';
import { MeterProvider, MetricReader } from '@opentelemetry/sdk-metrics';
import { AlwaysOnSampler, BatchSpanProcessor, ParentBasedSampler, TracerProvider, type SpanExporter } from '@opentelemetry/sdk-trace';
import { emptyResource } from '@opentelemetry/resources';
import { createCheckTracer, scopeOf, type CheckTracer } from './check-span.ts';
import { DURATION_BUCKETS } from './metrics.ts';

/** A reader nothing ever collects: the instruments record, nothing is read or exported. */
class UncollectedReader extends MetricReader {
  protected override onShutdown(): Promise<void> {
    return Promise.resolve();
  }
  protected override onForceFlush(): Promise<void> {
    return Promise.resolve();
  }
}

const DROP: SpanExporter = {
  export: (_spans, done) => done({ code: ExportResultCode.SUCCESS }),
  shutdown: () => Promise.resolve(),
};

export interface DetachedTelemetry {
  readonly tracer: CheckTracer;
  /** The Check's metrics (check.ts CheckMetrics), recorded on the detached meter. */
  readonly metrics: {
    identity(method: string): void;
    quotaDenial(quota: string): void;
    decision(effect: string, reason: string, rule: string | undefined, seconds: number): void;
  };
  shutdown(): Promise<void>;
}

export function detachedTelemetry(): DetachedTelemetry {
  const sampler = new ParentBasedSampler({ root: new AlwaysOnSampler() });
  const processor = new BatchSpanProcessor({ exporter: DROP, scheduledDelayMillis: 60_000 });
  const resource = emptyResource();
  const tracerProvider = new TracerProvider({
    resource,
    sampler,
    spanProcessors: [processor],
    spanLimits: { attributeValueLengthLimit: 1024, attributeCountLimit: 128, eventCountLimit: 16 },
  });
  const otelTracer = tracerProvider.getTracer('llm-authz.warm-up');
  const meterProvider = new MeterProvider({ readers: [new UncollectedReader()] });
  const meter = meterProvider.getMeter('llm-authz.warm-up');
  const decisions = meter.createCounter('llm_authz.decisions');
  const duration = meter.createHistogram('llm_authz.check.duration', { unit: 's', advice: { explicitBucketBoundaries: DURATION_BUCKETS } });
  const identities = meter.createCounter('llm_authz.identity.methods');
  const quotaDenials = meter.createCounter('llm_authz.quota.denials');
  return {
    tracer: createCheckTracer({ sampler, processor, resource, scope: scopeOf(otelTracer, 'llm-authz.warm-up', '') }),
    metrics: {
      identity: (method) => identities.add(1, { method }),
      quotaDenial: (quota) => quotaDenials.add(1, { quota }),
      decision: (effect, reason, rule, seconds) => {
        decisions.add(1, rule === undefined ? { effect, reason } : { effect, reason, rule });
        duration.record(seconds, { effect });
      },
    },
    async shutdown() {
      await Promise.all([tracerProvider.shutdown(), meterProvider.shutdown()]);
    },
  };
}
