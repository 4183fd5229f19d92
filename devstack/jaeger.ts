/**
 * The real Jaeger (v2, OpenTelemetry-collector based) on loopback: in-memory storage, an OTLP
 * receiver (gRPC and HTTP) and the query HTTP API, each on a free port.
 */
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { exitedWhileStarting, retryWhenPortTaken, startChild, type Child } from './process.ts';
import { freePort, waitFor } from './ports.ts';
import { jaegerBin } from './tools.ts';

export interface JaegerProcess {
  readonly child: Child;
  /** OTLP/gRPC receiver port (Envoy's tracer, llm-authz with protocol grpc). */
  readonly otlpGrpcPort: number;
  /** OTLP/HTTP receiver port. */
  readonly otlpHttpPort: number;
  /** Base URL of the query API, e.g. http://127.0.0.1:PORT (GET /api/traces/{id}, /api/traces?service=). */
  readonly queryUrl: string;
  stop(): Promise<number | string>;
}

export interface JaegerPorts {
  otlpGrpc: number;
  otlpHttp: number;
  queryHttp: number;
  queryGrpc: number;
}

/** The Jaeger v2 config: only loopback listeners, no self-telemetry server, memory store. */
export function jaegerConfig(p: JaegerPorts, maxTraces = 100_000): string {
  return `service:
  extensions: [jaeger_storage, jaeger_query]
  pipelines:
    traces:
      receivers: [otlp]
      processors: [batch]
      exporters: [jaeger_storage_exporter]
  telemetry:
    metrics:
      level: none
    logs:
      level: warn
extensions:
  jaeger_storage:
    backends:
      memstore:
        memory:
          max_traces: ${maxTraces}
  jaeger_query:
    # Jaeger's own tracing of its queries would export to localhost:4317.
    enable_tracing: false
    storage:
      traces: memstore
    http:
      endpoint: 127.0.0.1:${p.queryHttp}
    grpc:
      endpoint: 127.0.0.1:${p.queryGrpc}
receivers:
  otlp:
    protocols:
      grpc:
        endpoint: 127.0.0.1:${p.otlpGrpc}
      http:
        endpoint: 127.0.0.1:${p.otlpHttp}
processors:
  batch:
    timeout: 100ms
exporters:
  jaeger_storage_exporter:
    trace_storage: memstore
`;
}

/** Jaeger on four free loopback ports; started again on new ports when one was taken before it bound it. */
export async function startJaeger(opts: { workDir: string; name?: string }): Promise<JaegerProcess> {
  return retryWhenPortTaken((attempt) => startJaegerOnce(opts, attempt));
}

async function startJaegerOnce(opts: { workDir: string; name?: string }, attempt: number): Promise<JaegerProcess> {
  const ports: JaegerPorts = { otlpGrpc: await freePort(), otlpHttp: await freePort(), queryHttp: await freePort(), queryGrpc: await freePort() };
  const name = `${opts.name ?? 'jaeger'}${attempt > 1 ? `-${attempt}` : ''}`;
  const configFile = path.join(opts.workDir, `${name}.yaml`);
  writeFileSync(configFile, jaegerConfig(ports));
  // Nothing of the caller's OpenTelemetry environment applies to Jaeger itself.
  const env = { ...process.env, OTEL_TRACES_EXPORTER: 'none', OTEL_METRICS_EXPORTER: 'none', OTEL_EXPORTER_OTLP_ENDPOINT: '' };
  const child = startChild(jaegerBin(), ['--config', `file:${configFile}`], { logFile: path.join(opts.workDir, `${name}.log`), env });
  const queryUrl = `http://127.0.0.1:${ports.queryHttp}`;
  let up: 'up' | 'exited';
  try {
    up = await waitFor(
      `Jaeger's query API on ${queryUrl}`,
      async () => {
        if (child.proc.exitCode !== null) return 'exited' as const;
        const res = await fetch(`${queryUrl}/api/services`);
        return res.ok ? ('up' as const) : undefined;
      },
      30_000,
      100,
    );
  } catch (err) {
    await child.stop('SIGKILL');
    throw err;
  }
  if (up === 'exited') throw await exitedWhileStarting(child, 'jaeger', 'address already in use');
  return {
    child,
    otlpGrpcPort: ports.otlpGrpc,
    otlpHttpPort: ports.otlpHttp,
    queryUrl,
    stop: () => child.stop('SIGTERM'),
  };
}

/** A span as Jaeger's query API (/api/traces) returns it. */
export interface JaegerSpan {
  traceID: string;
  spanID: string;
  operationName: string;
  references?: { refType: string; traceID: string; spanID: string }[];
  processID: string;
  /** Microseconds since the epoch, and the span's length in microseconds. */
  startTime: number;
  duration: number;
  tags: { key: string; type: string; value: unknown }[];
  logs?: { timestamp: number; fields: { key: string; value: unknown }[] }[];
}
export interface JaegerTrace {
  traceID: string;
  spans: JaegerSpan[];
  processes: Record<string, { serviceName: string; tags?: { key: string; value: unknown }[] }>;
}

/** GET /api/traces/{traceId}; undefined while Jaeger does not have it (yet). */
export async function getTrace(queryUrl: string, traceId: string): Promise<JaegerTrace | undefined> {
  const res = await fetch(`${queryUrl}/api/traces/${traceId}`);
  if (res.status === 404) return undefined;
  if (!res.ok) throw new Error(`Jaeger GET /api/traces/${traceId}: HTTP ${res.status}`);
  const body = (await res.json()) as { data?: JaegerTrace[] };
  return body.data?.[0];
}

/** Every trace Jaeger holds for a service (within the last `lookback`). */
export async function findTraces(queryUrl: string, service: string, params: Record<string, string> = {}): Promise<JaegerTrace[]> {
  const q = new URLSearchParams({ service, limit: '100000', lookback: '24h', ...params });
  const res = await fetch(`${queryUrl}/api/traces?${q.toString()}`);
  if (!res.ok) throw new Error(`Jaeger GET /api/traces?${q.toString()}: HTTP ${res.status}`);
  return ((await res.json()) as { data?: JaegerTrace[] | null }).data ?? [];
}

export async function services(queryUrl: string): Promise<string[]> {
  const res = await fetch(`${queryUrl}/api/services`);
  if (!res.ok) throw new Error(`Jaeger GET /api/services: HTTP ${res.status}`);
  return ((await res.json()) as { data?: string[] | null }).data ?? [];
}
