/**
 * Several llm-authz replicas behind one Envoy: the rendered gateway config's llm-authz
 * endpoint (in the Check cluster and in the outcome streams' cluster) repeated once per replica.
 * Envoy balances Checks and ext_proc streams over them round robin, so a request's Check and its
 * outcome record can land on different replicas, as in a Deployment with several pods.
 */
export function withAuthzReplicas(text: string, address: string, ports: readonly number[]): string {
  const [first] = ports;
  if (first === undefined || ports.length === 1) return text;
  const esc = address.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
  const block = new RegExp(`( *)- endpoint:\\n( *)address:\\n( *)socket_address: \\{ address: ${esc}, port_value: ${first} \\}`, 'g');
  let found = 0;
  const out = text.replace(block, (_m, a: string, b: string, c: string) => {
    found++;
    return ports.map((p) => `${a}- endpoint:\n${b}address:\n${c}socket_address: { address: ${address}, port_value: ${p} }`).join('\n');
  });
  if (found !== 2) throw new Error(`expected the llm-authz endpoint twice in the Envoy config (Checks, outcome streams), found it ${found} times`);
  return out;
}
