/** The test Jaeger started by test/e2e/global-setup.ts, as seen from test files. */
export const ENV_JAEGER_QUERY = 'LLM_AUTHZ_TEST_JAEGER_QUERY';
export const ENV_OTLP_GRPC_PORT = 'LLM_AUTHZ_TEST_OTLP_GRPC_PORT';

/** Envoy template parameters pointing Envoy's tracer at the test Jaeger. */
export function otlpParams(): { OTLP_ADDRESS: string; OTLP_PORT: number } {
  const port = Number(process.env[ENV_OTLP_GRPC_PORT]);
  if (!Number.isInteger(port) || port <= 0) throw new Error(`${ENV_OTLP_GRPC_PORT} is not set: the e2e global setup starts Jaeger and sets it`);
  return { OTLP_ADDRESS: '127.0.0.1', OTLP_PORT: port };
}

export function jaegerQueryUrl(): string {
  const url = process.env[ENV_JAEGER_QUERY];
  if (!url) throw new Error(`${ENV_JAEGER_QUERY} is not set: the e2e global setup starts Jaeger and sets it`);
  return url;
}
