/**
 * envoy/gateway-uds.yaml from envoy/gateway.yaml (written by scripts/render-envoy.ts, kept
 * current by test/e2e/envoy-configs.test.ts): Envoy reaches llm-authz on a Unix domain socket
 * (Envoy's `pipe` address; llm-authz `serve --listen unix:PATH`) instead of TCP loopback, for an
 * Envoy and an llm-authz that share a filesystem (a pod's emptyDir): no TCP stack, no port.
 */

const TCP_AUTHZ = `socket_address: { address: \${AUTHZ_ADDRESS}, port_value: \${AUTHZ_PORT} }`;
const PIPE_AUTHZ = `pipe: { path: \${AUTHZ_SOCKET} }`;

export function withAuthzPipe(gateway: string): string {
  const param = "#   AUTHZ_ADDRESS, AUTHZ_PORT          llm-authz's gRPC listener\n";
  const command = 'envsubst < envoy/gateway.yaml';
  // Both clusters that reach llm-authz: Check's and the outcome records' ext_proc streams.
  if (gateway.split(TCP_AUTHZ).length !== 3 || !gateway.includes(param) || !gateway.includes(command)) {
    throw new Error('the gateway template changed: cannot find the two llm-authz addresses, the AUTHZ_ADDRESS parameter or the render command');
  }
  return `# Generated from envoy/gateway.yaml by scripts/render-envoy.ts (do not edit): the same gateway
# reaching llm-authz on a Unix domain socket (llm-authz serve --listen unix:AUTHZ_SOCKET).
#
${gateway
  .replace(param, "#   AUTHZ_SOCKET                       llm-authz's gRPC listener: the Unix socket it serves on (--listen unix:PATH)\n")
  .replace(command, 'envsubst < envoy/gateway-uds.yaml')
  .replaceAll(TCP_AUTHZ, PIPE_AUTHZ)}`;
}
