/**
 * OpenTelemetry setup for traces and metrics, built once at start from the `telemetry:`
 * config and the standard OTEL_* environment variables.
 *
 * Built on the SDK packages (sdk-trace, sdk-metrics, resources, OTLP exporters) rather than
 * @opentelemetry/sdk-node: llm-authz makes its spans by hand (one per Check) and needs no
 * auto-instrumentation, logs SDK, Zipkin or B3, which sdk-node pulls in and starts.
 * Each exporter is loaded only when the config uses it (the Prometheus exporter alone added
 * 2 MiB to the idle RSS of a server that does not serve /metrics: bench/idle-rss.ts).
 */
import type { Meter } from '@opentelemetry/api';
import { ExportResultCode, type ExportResult } from '@opentelemetry/core';
import type { PrometheusExporter } from '@opentelemetry/exporter-prometheus';
import { randomUUID } from 'node:crypto';
import { envDetector, detectResources, resourceFromAttributes, type Resource } from '@opentelemetry/resources';
import { MeterProvider, PeriodicExportingMetricReader, type MetricReader, type PushMetricExporter, type ResourceMetrics } from '@opentelemetry/sdk-metrics';
import { AlwaysOnSampler, BatchSpanProcessor, ParentBasedSampler, TracerProvider, type ReadableSpan, type SpanExporter, type SpanProcessor } from '@opentelemetry/sdk-trace';
import { createCheckTracer, scopeOf, type CheckTracer } from './check-span.ts';
import { countExporterDropped, installMeter } from './metrics.ts';
import { createOutcomeTracer, type OutcomeTracer } from './outcome-span.ts';
import { observeRuntime } from './runtime-metrics.ts';
import type { TelemetryConfig } from './schema.ts';

export interface Telemetry {
  readonly tracer: CheckTracer;
  /** Spans of outcome records (the ext_proc streams). */
  readonly outcomeTracer: OutcomeTracer;
  readonly meter: Meter;
  /** Where spans go: `otlp grpc http://...`, or `none`. */
  readonly tracesTo: string;
  readonly metricsTo: string;
  /** The Prometheus scrape port, when the endpoint is on. */
  readonly prometheusPort: number | undefined;
  /** Exports what is queued (bounded by the export timeout). */
  flush(): Promise<void>;
  shutdown(): Promise<void>;
}

export interface TelemetryOptions {
  /** service.version */
  readonly version: string;
  readonly env?: NodeJS.ProcessEnv;
  /** Tests: export spans here instead of (not in addition to) the configured exporter. */
  readonly spanExporter?: SpanExporter;
  /** Tests: an extra metric reader. */
  readonly metricReader?: MetricReader;
}

type Protocol = 'grpc' | 'http/protobuf';

/** At shutdown, queued spans and metrics get at most this long to leave. */
const SHUTDOWN_LIMIT_MS = 3000;

/** Kubernetes attributes from the environment (set them with the downward API). */
const POD_NAME_ENV = ['K8S_POD_NAME', 'POD_NAME'] as const;
const K8S_ENV: readonly [string, readonly string[]][] = [
  ['k8s.pod.name', POD_NAME_ENV],
  ['k8s.namespace.name', ['K8S_NAMESPACE_NAME', 'POD_NAMESPACE']],
  ['k8s.node.name', ['K8S_NODE_NAME', 'NODE_NAME']],
  ['k8s.pod.uid', ['K8S_POD_UID', 'POD_UID']],
];

export function buildResource(serviceName: string, version: string, env: NodeJS.ProcessEnv): Resource {
  // service.instance.id tells replicas apart in a trace: the pod's name when the downward API
  // gives it, else a UUID per process (OTEL_RESOURCE_ATTRIBUTES may set it too).
  const pod = POD_NAME_ENV.map((n) => env[n]).find((x) => x !== undefined && x !== '');
  const attrs: Record<string, string> = { 'service.name': serviceName, 'service.version': version, 'service.instance.id': pod ?? randomUUID() };
  for (const [attr, names] of K8S_ENV) {
    const v = names.map((n) => env[n]).find((x) => x !== undefined && x !== '');
    if (v !== undefined) attrs[attr] = v;
  }
  // OTEL_RESOURCE_ATTRIBUTES and OTEL_SERVICE_NAME win over the config (merge: the argument wins).
  const merged = resourceFromAttributes(attrs).merge(detectResources({ detectors: [envDetector] }));
  const name = env['OTEL_SERVICE_NAME'];
  return name ? merged.merge(resourceFromAttributes({ 'service.name': name })) : merged;
}

interface Target {
  readonly protocol: Protocol;
  /** undefined: the exporter reads OTEL_EXPORTER_OTLP_* itself. */
  readonly url: string | undefined;
}

function parseProtocol(v: string | undefined): Protocol | undefined {
  return v === 'grpc' || v === 'http/protobuf' ? v : undefined;
}

/** Decides whether a signal is exported over OTLP, and where, from config then environment. */
export function otlpTarget(
  signal: 'traces' | 'metrics',
  cfg: { exporter?: 'otlp' | 'none' | undefined; protocol?: Protocol | undefined; endpoint?: string | undefined },
  env: NodeJS.ProcessEnv,
): Target | undefined {
  const upper = signal.toUpperCase();
  if (env['OTEL_SDK_DISABLED'] === 'true') return undefined;
  const envExporter = env[`OTEL_${upper}_EXPORTER`];
  const exporter = cfg.exporter ?? (envExporter === 'none' ? 'none' : undefined);
  if (exporter === 'none') return undefined;
  const protocol = cfg.protocol ?? parseProtocol(env[`OTEL_EXPORTER_OTLP_${upper}_PROTOCOL`]) ?? parseProtocol(env['OTEL_EXPORTER_OTLP_PROTOCOL']) ?? 'http/protobuf';
  const envEndpoint = env[`OTEL_EXPORTER_OTLP_${upper}_ENDPOINT`] || env['OTEL_EXPORTER_OTLP_ENDPOINT'];
  if (cfg.endpoint !== undefined) {
    const base = cfg.endpoint.replace(/\/+$/, '');
    const url = protocol === 'http/protobuf' && !base.endsWith(`/v1/${signal}`) ? `${base}/v1/${signal}` : base;
    return { protocol, url };
  }
  // No endpoint anywhere and no explicit `otlp`: nothing is exported (no noise towards localhost).
  if (!envEndpoint && exporter !== 'otlp' && envExporter !== 'otlp') return undefined;
  return { protocol, url: undefined };
}

function describe(t: Target | undefined, env: NodeJS.ProcessEnv, signal: string): string {
  if (!t) return 'none';
  const url = t.url ?? (env[`OTEL_EXPORTER_OTLP_${signal.toUpperCase()}_ENDPOINT`] || env['OTEL_EXPORTER_OTLP_ENDPOINT'] || 'default');
  return `otlp ${t.protocol} ${url}`;
}

/** Counts spans that an export did not deliver (endpoint down, timeout, rejected). */
class CountingSpanExporter implements SpanExporter {
  readonly #inner: SpanExporter;
  constructor(inner: SpanExporter) {
    this.#inner = inner;
  }
  export(spans: ReadableSpan[], done: (r: ExportResult) => void): void {
    this.#inner.export(spans, (r) => {
      if (r.code !== ExportResultCode.SUCCESS) countExporterDropped('traces', spans.length);
      done(r);
    });
  }
  shutdown(): Promise<void> {
    return this.#inner.shutdown();
  }
  forceFlush(): Promise<void> {
    return this.#inner.forceFlush?.() ?? Promise.resolve();
  }
}

/** A span processor that counts spans refused because the export queue is full. */
class BoundedBatchProcessor implements SpanProcessor {
  readonly #inner: BatchSpanProcessor;
  readonly #max: number;
  #queued = 0;
  constructor(exporter: SpanExporter, opts: { maxQueueSize: number; maxExportBatchSize: number; scheduledDelayMillis: number; exportTimeoutMillis: number }) {
    this.#max = opts.maxQueueSize;
    // The exporter wrapper tracks what left the queue, so the queue length is known here.
    const self = this;
    const tracking: SpanExporter = {
      export(spans, done) {
        self.#queued = Math.max(0, self.#queued - spans.length);
        exporter.export(spans, done);
      },
      shutdown: () => exporter.shutdown(),
      forceFlush: () => exporter.forceFlush?.() ?? Promise.resolve(),
    };
    this.#inner = new BatchSpanProcessor({ exporter: tracking, ...opts });
  }
  onStart(...args: Parameters<SpanProcessor['onStart']>): void {
    this.#inner.onStart(...args);
  }
  onEnd(span: ReadableSpan): void {
    if ((span.spanContext().traceFlags & 1) === 0) return;
    if (this.#queued >= this.#max) {
      countExporterDropped('traces', 1);
      return;
    }
    this.#queued++;
    this.#inner.onEnd(span);
  }
  /** Spans waiting for export (at most maxQueueSize). */
  get queued(): number {
    return this.#queued;
  }
  forceFlush(): Promise<void> {
    return this.#inner.forceFlush();
  }
  shutdown(): Promise<void> {
    return this.#inner.shutdown();
  }
}

/** Counts metric batches that an export did not deliver. */
class CountingMetricExporter implements PushMetricExporter {
  readonly #inner: PushMetricExporter;
  constructor(inner: PushMetricExporter) {
    this.#inner = inner;
  }
  export(metrics: ResourceMetrics, done: (r: ExportResult) => void): void {
    this.#inner.export(metrics, (r) => {
      if (r.code !== ExportResultCode.SUCCESS) countExporterDropped('metrics', 1);
      done(r);
    });
  }
  forceFlush(): Promise<void> {
    return this.#inner.forceFlush();
  }
  shutdown(): Promise<void> {
    return this.#inner.shutdown();
  }
}

/**
 * The library's export delegate (serializer call, concurrency limit, otel.sdk.exporter.*
 * self-metrics with the gRPC status by name) on otlp-grpc-transport.ts, for one signal: its
 * target from the config and OTEL_EXPORTER_OTLP_[signal_]*, its Export method.
 */
async function grpcExportDelegate<T, R>(
  signal: 'TRACES' | 'METRICS',
  serializer: import('@opentelemetry/otlp-transformer').ISerializer<T, R>,
  componentType: string,
  metricsHelper: import('@opentelemetry/otlp-transformer').IExporterMetricsHelper<T>,
  options: { url?: string; timeoutMillis: number },
  version: string,
  env: NodeJS.ProcessEnv,
) {
  const base = await import('@opentelemetry/otlp-exporter-base');
  const transport = await import('./otlp-grpc-transport.ts');
  const target = transport.resolveGrpcExport(options.url, options.timeoutMillis, `llm-authz/${version}`, env, signal);
  const metrics = new base.ExporterMetrics<T>({
    componentType,
    metricsHelper,
    url: target.url,
    meterProvider: undefined,
    responseAttributesFromError: (error) =>
      error === undefined
        ? { 'rpc.response.status_code': 'OK' }
        : error instanceof transport.OtlpGrpcExportError
          ? { 'rpc.response.status_code': transport.statusName(error.code) }
          : {},
  });
  const shared = { ...base.getSharedConfigurationDefaults(), timeoutMillis: target.timeoutMillis, compression: target.compression };
  const path = signal === 'TRACES' ? transport.TRACE_EXPORT_PATH : transport.METRICS_EXPORT_PATH;
  return base.createOtlpNetworkExportDelegate(shared, serializer, metrics, new transport.Http2GrpcTransport(target, path));
}

/**
 * The OTLP span exporter of the protocol, with the library's export delegate (serializer call,
 * concurrency limit, otel.sdk.exporter.* self-metrics) and the request encoding of
 * otlp-trace-encoder.ts in place of the library's serializer (the same bytes, less CPU).
 * http/protobuf: the library's transport (node:http, retries). grpc: otlp-grpc-transport.ts
 * (node:http2) in place of the library's transport on grpc-js (the same requests, a lower
 * paced p99; the reasons are in that file).
 */
async function createTraceExporter(
  protocol: 'grpc' | 'http/protobuf',
  options: { url?: string; timeoutMillis: number },
  version: string,
  env: NodeJS.ProcessEnv,
): Promise<SpanExporter> {
  // Loaded here, when spans are exported, not at start.
  const base = await import('@opentelemetry/otlp-exporter-base');
  const { ProtobufTraceSerializer, TraceExporterMetricsHelper } = await import('@opentelemetry/otlp-transformer');
  const serializer = (await import('./otlp-trace-encoder.ts')).createTraceSerializer(ProtobufTraceSerializer);
  if (protocol === 'grpc') {
    return new base.OTLPExporterBase(await grpcExportDelegate('TRACES', serializer, 'otlp_grpc_span_exporter', TraceExporterMetricsHelper, options, version, env));
  }
  const http = await import('@opentelemetry/otlp-exporter-base/node-http');
  const config = http.convertLegacyHttpOptions(options, 'TRACES', 'v1/traces', { 'Content-Type': 'application/x-protobuf' });
  return new base.OTLPExporterBase(http.createOtlpHttpExportDelegate(config, serializer, 'otlp_http_span_exporter', TraceExporterMetricsHelper, undefined));
}

/**
 * The OTLP metric exporter of the protocol. http/protobuf: the library's exporter. grpc: the
 * library's metric exporter base (temporality and aggregation from
 * OTEL_EXPORTER_OTLP_METRICS_TEMPORALITY_PREFERENCE, as the library's gRPC exporter) and export
 * delegate on the node:http2 transport of the spans, so that serve loads no grpc-js.
 */
async function createMetricExporter(
  protocol: 'grpc' | 'http/protobuf',
  options: { url?: string; timeoutMillis: number },
  version: string,
  env: NodeJS.ProcessEnv,
): Promise<PushMetricExporter> {
  if (protocol === 'grpc') {
    const { OTLPMetricExporterBase } = await import('@opentelemetry/exporter-metrics-otlp-http');
    const { ProtobufMetricsSerializer, MetricsExporterMetricsHelper } = await import('@opentelemetry/otlp-transformer');
    return new OTLPMetricExporterBase(
      await grpcExportDelegate('METRICS', ProtobufMetricsSerializer, 'otlp_grpc_metric_exporter', MetricsExporterMetricsHelper, options, version, env),
    );
  }
  return new (await import('@opentelemetry/exporter-metrics-otlp-proto')).OTLPMetricExporter(options);
}

function hostAndPort(listen: string): { host: string; port: number } {
  const i = listen.lastIndexOf(':');
  return { host: listen.slice(0, i).replace(/^\[|\]$/g, ''), port: Number(listen.slice(i + 1)) };
}

export async function startTelemetry(cfg: TelemetryConfig, opts: TelemetryOptions): Promise<Telemetry> {
  const env = opts.env ?? process.env;
  const resource = buildResource(cfg.service_name, opts.version, env);

  // Metrics first, so that exporter drops of traces are counted in them.
  const readers: MetricReader[] = [];
  const metricsTarget = otlpTarget('metrics', cfg.metrics, env);
  if (metricsTarget) {
    const timeoutMillis = Math.min(cfg.metrics.interval_ms, 10_000);
    const options = metricsTarget.url !== undefined ? { url: metricsTarget.url, timeoutMillis } : { timeoutMillis };
    const inner = await createMetricExporter(metricsTarget.protocol, options, opts.version, env);
    readers.push(
      new PeriodicExportingMetricReader({ exporter: new CountingMetricExporter(inner), exportIntervalMillis: cfg.metrics.interval_ms, exportTimeoutMillis: timeoutMillis }),
    );
  }
  let prometheus: PrometheusExporter | undefined;
  let prometheusPort: number | undefined;
  if (cfg.metrics.prometheus) {
    const { host, port } = hostAndPort(cfg.metrics.prometheus.listen);
    prometheus = new (await import('@opentelemetry/exporter-prometheus')).PrometheusExporter({ host, port, preventServerStart: true });
    await prometheus.startServer();
    prometheusPort = port;
    readers.push(prometheus);
  }
  if (opts.metricReader) readers.push(opts.metricReader);
  const meterProvider = new MeterProvider({ resource, readers });
  const meter = meterProvider.getMeter('llm-authz', opts.version);
  installMeter(meter);
  observeRuntime(meter);

  const tracesTarget = otlpTarget('traces', cfg.traces, env);
  let exporter: SpanExporter | undefined = opts.spanExporter;
  if (!exporter && tracesTarget) {
    const t = cfg.traces.export_timeout_ms;
    const options = tracesTarget.url !== undefined ? { url: tracesTarget.url, timeoutMillis: t } : { timeoutMillis: t };
    exporter = await createTraceExporter(tracesTarget.protocol, options, opts.version, env);
  }
  const queue = exporter
    ? new BoundedBatchProcessor(new CountingSpanExporter(exporter), {
        maxQueueSize: cfg.traces.max_queue_size,
        maxExportBatchSize: Math.min(cfg.traces.max_export_batch_size, cfg.traces.max_queue_size),
        scheduledDelayMillis: cfg.traces.scheduled_delay_ms,
        exportTimeoutMillis: cfg.traces.export_timeout_ms,
      })
    : undefined;
  if (queue) {
    // Read at each collection: shows the bound holding (or not) while the collector is down.
    meter
      .createObservableGauge('llm_authz.telemetry.span_queue.size', { description: 'Spans waiting for export (bounded by telemetry.traces.max_queue_size)', unit: '{span}' })
      .addCallback((r) => r.observe(queue.queued));
  }
  const processors: SpanProcessor[] = queue ? [queue] : [];
  const sampler = new ParentBasedSampler({ root: new AlwaysOnSampler() });
  const tracerProvider = new TracerProvider({
    resource,
    sampler,
    spanProcessors: processors,
    spanLimits: { attributeValueLengthLimit: 1024, attributeCountLimit: 128, eventCountLimit: 16 },
  });
  const otelTracer = tracerProvider.getTracer('llm-authz', opts.version);
  // The Check spans share the outcome spans' resource and scope objects: the exporter groups
  // spans by those objects, so both kinds leave in one ScopeSpans, as from one SDK tracer.
  const tracer = createCheckTracer({ sampler, processor: queue, resource, scope: scopeOf(otelTracer, 'llm-authz', opts.version) });

  return {
    tracer,
    outcomeTracer: createOutcomeTracer(otelTracer),
    meter,
    tracesTo: opts.spanExporter ? 'in-memory' : describe(tracesTarget, env, 'traces'),
    metricsTo: [describe(metricsTarget, env, 'metrics'), ...(prometheusPort !== undefined ? [`prometheus :${prometheusPort}/metrics`] : [])].join(', '),
    prometheusPort,
    async flush() {
      await tracerProvider.forceFlush().catch(() => undefined);
      await meterProvider.forceFlush().catch(() => undefined);
    },
    async shutdown() {
      // Bounded: with the collector down, the last spans get a short, fixed time, not one timeout per batch.
      let timer: NodeJS.Timeout | undefined;
      const limit = new Promise<void>((resolve) => {
        timer = setTimeout(resolve, Math.min(cfg.traces.export_timeout_ms, SHUTDOWN_LIMIT_MS));
        timer.unref();
      });
      const all = Promise.all([tracerProvider.shutdown().catch(() => undefined), meterProvider.shutdown().catch(() => undefined)]).then(() => undefined);
      await Promise.race([all, limit]);
      clearTimeout(timer);
    },
  };
}
