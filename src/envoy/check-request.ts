/**
 * Builds a CheckRequest (as @grpc/proto-loader objects) for an HTTP request, in the shape Envoy
 * sends it: `llm-authz check` turns its HTTP fixtures into one, and tests and benchmarks use it
 * for direct gRPC calls.
 */
export function checkRequest(o: { method?: string; path?: string; headers?: Record<string, string>; body?: string | Buffer; principal?: string }): Record<string, unknown> {
  const body = typeof o.body === 'string' ? Buffer.from(o.body) : o.body;
  const method = o.method ?? 'POST';
  const path = o.path ?? '/v1/chat/completions';
  return {
    attributes: {
      source: { address: { socket_address: { address: '127.0.0.1', port_value: 40000 } }, principal: o.principal ?? '' },
      destination: { address: { socket_address: { address: '127.0.0.1', port_value: 10000 } } },
      request: {
        http: {
          id: '1',
          method,
          path,
          host: 'llm.local',
          scheme: 'http',
          protocol: 'HTTP/1.1',
          headers: {
            ':method': method,
            ':path': path,
            ':authority': 'llm.local',
            ':scheme': 'http',
            ...(body ? { 'content-length': String(body.length) } : {}),
            ...o.headers,
          },
          ...(body ? { raw_body: body, size: String(body.length) } : {}),
        },
      },
    },
  };
}
