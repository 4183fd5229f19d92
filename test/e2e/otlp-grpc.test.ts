/**
 * Spans leave over OTLP/gRPC (`telemetry.traces.protocol: grpc`, as the benchmark config and many
 * collectors use) and arrive: the shipped CLI, a Check, the real Jaeger's OTLP/gRPC receiver, the
 * Check span in the trace its decision line names; once plain, once gzip-compressed with extra
 * headers. The transport (node:http2, src/telemetry/otlp-grpc-transport.ts) is unit-tested against
 * in-process servers for retries, reconnection, TLS and mTLS. The other e2e tests export over
 * http/protobuf.
 */
import { randomUUID } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { startAuthz } from '../../devstack/authz.ts';
import { checkRequest, createAuthzClient } from '../../devstack/grpc-client.ts';
import { getTrace } from '../../devstack/jaeger.ts';
import { waitFor } from '../../devstack/ports.ts';
import { CHECK_SPAN_NAME } from '../../src/telemetry/check-span.ts';
import { CHAT_KEY, quickstartConfigWith } from '../helpers/demo-keys.ts';
import { newWorkDir } from '../helpers/stack.ts';
import { SUITE_PROMPTS } from '../helpers/suite-secrets.ts';
import { ENV_OTLP_GRPC_PORT, jaegerQueryUrl } from '../helpers/telemetry.ts';

/** Starts llm-authz exporting to the test Jaeger over OTLP/gRPC, makes one Check and finds its span. */
async function checkSpanReachesJaeger(name: string, env: NodeJS.ProcessEnv): Promise<void> {
  const dir = newWorkDir(name);
  const service = `llm-authz-${name}-${randomUUID().slice(0, 8)}`;
  const config = quickstartConfigWith(dir, (c) => {
    c['telemetry'] = {
      service_name: service,
      traces: { protocol: 'grpc', endpoint: `http://127.0.0.1:${process.env[ENV_OTLP_GRPC_PORT]}`, scheduled_delay_ms: 50 },
    };
  });
  const authz = await startAuthz({ config, workDir: dir, env });
  const client = createAuthzClient(`127.0.0.1:${authz.port}`);
  try {
    expect(authz.logs().find((l) => l['msg'] === 'llm-authz serving')?.['traces']).toMatch(/^otlp grpc /);
    const res = await client.check(
      checkRequest({
        headers: { authorization: `Bearer ${CHAT_KEY}`, 'content-type': 'application/json' },
        body: JSON.stringify({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: SUITE_PROMPTS[2] }] }),
      }),
    );
    expect((res['status'] as { code?: number } | undefined)?.code ?? 0).toBe(0);
    const line = await waitFor('the decision line', async () => authz.decisions()[0]);
    const traceId = String(line['trace_id']);
    expect(traceId).toMatch(/^[0-9a-f]{32}$/);
    const trace = await waitFor(
      `trace ${traceId} in Jaeger with llm-authz's span`,
      async () => {
        const t = await getTrace(jaegerQueryUrl(), traceId);
        return t?.spans.some((s) => s.operationName === CHECK_SPAN_NAME) ? t : undefined;
      },
      20_000,
      250,
    );
    const span = trace.spans.find((s) => s.operationName === CHECK_SPAN_NAME);
    expect(trace.processes[span?.processID ?? '']?.serviceName).toBe(service);
  } finally {
    client.close();
    await authz.stop();
  }
}

describe('spans over OTLP/gRPC', () => {
  it('reach the collector: the Check span is in its trace, from the configured service', async () => {
    await checkSpanReachesJaeger('otlp-grpc', {});
  });

  it('reach the collector gzip-compressed, with the headers of OTEL_EXPORTER_OTLP_TRACES_HEADERS', async () => {
    await checkSpanReachesJaeger('otlp-grpc-gzip', { OTEL_EXPORTER_OTLP_TRACES_COMPRESSION: 'gzip', OTEL_EXPORTER_OTLP_TRACES_HEADERS: 'x-scope-orgid=suite' });
  });
});
