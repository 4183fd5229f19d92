/**
 * Envoy configs derived from envoy/gateway-tls.yaml (as envoy/gateway-tls.yaml is derived from
 * envoy/gateway.yaml): written by scripts/render-kubernetes.ts and scripts/render-envoy.ts, kept
 * current by tests.
 *   - withAuthzTls: the gateway reaches llm-authz over mTLS (llm-authz's server.tls with
 *     client_ca), for a gateway that reaches llm-authz across the network.
 *   - sidecarEnvoyBootstrap: the injected egress Envoy of a pod (deploy/kubernetes/overlays/
 *     sidecar/envoy.yaml): loopback listener, a /ready listener for the kubelet, real providers.
 */
import { PORTS } from '../src/inject/constants.ts';
import { renderTemplate } from './envoy.ts';

function insertAfter(text: string, anchor: string, insert: string, what: string): string {
  const i = text.indexOf(anchor);
  if (i < 0 || text.indexOf(anchor, i + 1) >= 0) throw new Error(`the gateway template changed: cannot find one '${anchor.trim()}' to add ${what}`);
  return text.slice(0, i + anchor.length) + insert + text.slice(i + anchor.length);
}

const AUTHZ_CLUSTER_HEAD = `  - name: llm_authz
    type: STATIC
    connect_timeout: 1s
`;

/** The cluster of the ext_proc streams (outcome records): the same llm-authz listener. */
const OUTCOMES_CLUSTER_HEAD = `  - name: llm_authz_outcomes
    type: STATIC
    connect_timeout: 1s
`;

const AUTHZ_TLS = `    # mTLS to llm-authz (its server.tls with client_ca): its certificate must chain to
    # AUTHZ_CA_PATH and name AUTHZ_SNI; Envoy presents AUTHZ_CLIENT_CERT_PATH. gRPC over TLS
    # negotiates HTTP/2 with ALPN.
    transport_socket:
      name: envoy.transport_sockets.tls
      typed_config:
        "@type": type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.UpstreamTlsContext
        sni: \${AUTHZ_SNI}
        common_tls_context:
          tls_params: { tls_minimum_protocol_version: TLSv1_2 }
          alpn_protocols: [h2]
          tls_certificates:
          - certificate_chain: { filename: \${AUTHZ_CLIENT_CERT_PATH} }
            private_key: { filename: \${AUTHZ_CLIENT_KEY_PATH} }
          validation_context:
            trusted_ca: { filename: \${AUTHZ_CA_PATH} }
            match_typed_subject_alt_names:
            - san_type: DNS
              matcher: { exact: \${AUTHZ_SNI} }
`;

/** envoy/gateway-tls-authz.yaml from envoy/gateway-tls.yaml. */
export function withAuthzTls(gatewayTls: string): string {
  let out = gatewayTls
    .replace('envsubst < envoy/gateway-tls.yaml', 'envsubst < envoy/gateway-tls-authz.yaml')
    .replace(
      '# Generated from envoy/gateway.yaml by scripts/render-envoy.ts (do not edit): the same gateway\n# with TLS to every provider (e.g. api.openai.com:443, api.anthropic.com:443).',
      '# Generated from envoy/gateway-tls.yaml by scripts/render-envoy.ts (do not edit): the same gateway\n# with TLS to every provider and mTLS to llm-authz (llm-authz reached across the network).',
    );
  if (!out.includes('envoy/gateway-tls-authz.yaml')) throw new Error('the gateway template changed: cannot find its render command');
  out = insertAfter(
    out,
    "#   AUTHZ_ADDRESS, AUTHZ_PORT          llm-authz's gRPC listener\n",
    "#   AUTHZ_SNI                          the name llm-authz's certificate carries (e.g. llm-authz.llm-authz.svc)\n#   AUTHZ_CA_PATH                      CA bundle llm-authz's certificate must chain to\n#   AUTHZ_CLIENT_CERT_PATH, AUTHZ_CLIENT_KEY_PATH  the certificate Envoy presents to llm-authz\n",
    'the authz TLS parameters',
  );
  // Across the network llm-authz has a name (a Service), not an address: resolve it (IPv4 first,
  // as for the providers: a name with an AAAA record must not fail on a host without IPv6).
  // Both clusters that reach it, Check's and the outcome records' ext_proc streams, use mTLS.
  for (const [head, name] of [
    [AUTHZ_CLUSTER_HEAD, 'llm_authz'],
    [OUTCOMES_CLUSTER_HEAD, 'llm_authz_outcomes'],
  ] as const) {
    if (out.split(head).length !== 2) throw new Error(`the gateway template changed: cannot find the ${name} cluster`);
    out = out.replace(head, `${head.replace('type: STATIC', 'type: STRICT_DNS')}    dns_lookup_family: V4_PREFERRED\n${AUTHZ_TLS}`);
  }
  return out;
}

const READY_LISTENER = `  # The kubelet's probes: GET /ready on the pod's address, answered by the admin interface's
  # /ready (the admin itself stays on loopback). Nothing else is served on this listener.
  - name: kubelet_ready
    address:
      socket_address: { address: 0.0.0.0, port_value: ${PORTS.envoyReady} }
    filter_chains:
    - filters:
      - name: envoy.filters.network.http_connection_manager
        typed_config:
          "@type": type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager
          stat_prefix: kubelet_ready
          route_config:
            name: ready
            virtual_hosts:
            - name: ready
              domains: ["*"]
              routes:
              - match: { path: /ready }
                route: { cluster: envoy_admin }
          http_filters:
          - name: envoy.filters.http.router
            typed_config:
              "@type": type.googleapis.com/envoy.extensions.filters.http.router.v3.Router
`;

const ADMIN_CLUSTER = `  - name: envoy_admin
    type: STATIC
    connect_timeout: 1s
    load_assignment:
      cluster_name: envoy_admin
      endpoints:
      - lb_endpoints:
        - endpoint:
            address:
              socket_address: { address: 127.0.0.1, port_value: ${PORTS.envoyAdmin} }

`;

/** The values the injected Envoy's bootstrap is rendered with (addresses inside the pod, real providers). */
export const SIDECAR_ENVOY_PARAMS = {
  LISTEN_ADDRESS: '127.0.0.1',
  LISTEN_PORT: PORTS.envoyEgress,
  ADMIN_ADDRESS: '127.0.0.1',
  ADMIN_PORT: PORTS.envoyAdmin,
  AUTHZ_ADDRESS: '127.0.0.1',
  AUTHZ_PORT: PORTS.authzGrpc,
  OPENAI_ADDRESS: 'api.openai.com',
  OPENAI_PORT: 443,
  ANTHROPIC_ADDRESS: 'api.anthropic.com',
  ANTHROPIC_PORT: 443,
  GEMINI_ADDRESS: 'generativelanguage.googleapis.com',
  GEMINI_PORT: 443,
  // Replace with your Azure OpenAI resource's host.
  AZURE_OPENAI_ADDRESS: 'your-resource.openai.azure.com',
  AZURE_OPENAI_PORT: 443,
  // Regional endpoints: replace with your region's (llm-authz's providers[].region signs for it).
  BEDROCK_ADDRESS: 'bedrock-runtime.us-east-1.amazonaws.com',
  BEDROCK_PORT: 443,
  VERTEX_AI_ADDRESS: 'us-central1-aiplatform.googleapis.com',
  VERTEX_AI_PORT: 443,
  MAX_REQUEST_BYTES: 1048576,
  ACCESS_LOG_PATH: '/dev/stdout',
  // An OpenTelemetry Collector's OTLP/gRPC receiver; Envoy keeps running when there is none.
  OTLP_ADDRESS: 'otel-collector.observability.svc.cluster.local',
  OTLP_PORT: 4317,
  // The CA bundle of the Envoy image (envoyproxy/envoy is Ubuntu-based, with ca-certificates).
  UPSTREAM_CA_PATH: '/etc/ssl/certs/ca-certificates.crt',
} as const;

/** deploy/kubernetes/overlays/sidecar/envoy.yaml from envoy/gateway-tls.yaml. */
export function sidecarEnvoyBootstrap(gatewayTls: string): string {
  let out = insertAfter(gatewayTls, 'static_resources:\n  listeners:\n', READY_LISTENER, 'the /ready listener');
  out = insertAfter(out, '  clusters:\n', ADMIN_CLUSTER, 'the admin cluster');
  const header = `# Generated by scripts/render-kubernetes.ts from envoy/gateway-tls.yaml (do not edit): the
# egress Envoy that the injector adds to a pod. Apps reach it at http://127.0.0.1:${PORTS.envoyEgress} (the SDK
# base URLs the injector sets); it asks llm-authz at 127.0.0.1:${PORTS.authzGrpc} and sends allowed requests
# to the providers over TLS. Change the provider hosts (Azure; the Bedrock and Vertex AI regions) and the
# OTLP collector for your cluster.
`;
  return header + renderTemplate(out.replace(/^(#[^\n]*\n)+/, ''), SIDECAR_ENVOY_PARAMS);
}
