/**
 * The `telemetry:` config section: OpenTelemetry traces and metrics. Standard OTEL_*
 * environment variables fill what the file leaves out (see docs/audit.md).
 */
import { z } from 'zod';

const hostPort = z.string().regex(/^(\[[0-9a-fA-F:]+\]|[A-Za-z0-9.-]+):\d{1,5}$/, 'expected HOST:PORT');
const protocol = z.enum(['grpc', 'http/protobuf']);

export const telemetrySchema = z
  .strictObject({
    /** service.name; OTEL_SERVICE_NAME wins when set. */
    service_name: z.string().min(1).default('llm-authz'),
    traces: z
      .strictObject({
        /** `otlp` exports spans; `none` keeps them in-process only (trace ids still reach the decision log). */
        exporter: z.enum(['otlp', 'none']).optional(),
        /** OTLP protocol; else OTEL_EXPORTER_OTLP_TRACES_PROTOCOL / OTEL_EXPORTER_OTLP_PROTOCOL, else grpc. */
        protocol: protocol.optional(),
        /** OTLP endpoint URL; else OTEL_EXPORTER_OTLP_TRACES_ENDPOINT / OTEL_EXPORTER_OTLP_ENDPOINT. */
        endpoint: z.url().optional(),
        /** Spans waiting for export; beyond this they are dropped and counted (memory stays bounded). */
        max_queue_size: z.int().min(1).max(1_000_000).default(2048),
        /**
         * Spans per export. An export serializes its whole batch on the event loop: 512 spans held
         * it for 8-10 ms (every Check arriving then waits), 64 for under 2 ms at the same CPU.
         */
        max_export_batch_size: z.int().min(1).max(100_000).default(64),
        scheduled_delay_ms: z.int().min(1).max(60_000).default(1000),
        export_timeout_ms: z.int().min(1).max(120_000).default(10_000),
      })
      .prefault({}),
    metrics: z
      .strictObject({
        /** OTLP metric export: on when an endpoint is known (here or in OTEL_EXPORTER_OTLP_(METRICS_)ENDPOINT). */
        exporter: z.enum(['otlp', 'none']).optional(),
        protocol: protocol.optional(),
        endpoint: z.url().optional(),
        interval_ms: z.int().min(100).max(600_000).default(15_000),
        /** Prometheus scrape endpoint (GET /metrics), e.g. 0.0.0.0:9464; off when absent. */
        prometheus: z.strictObject({ listen: hostPort }).optional(),
      })
      .prefault({}),
  })
  .prefault({});

export type TelemetryConfig = z.infer<typeof telemetrySchema>;
