/**
 * Names the injector and the manifests share: labels, annotations, container and volume names,
 * ports and mount paths of the injected sidecars. deploy/kubernetes/ uses the same values
 * (test/unit/inject-*.test.ts and the Kubernetes e2e tests hold them together).
 */

/** Namespace label that turns injection on (value `enabled`), and the pod label that opts a pod in (`true`) or out (`false`). */
export const INJECT_LABEL = 'llm-authz.io/inject';

/** Set on every injected pod: the injector's version (also what makes a second pass a no-op). */
export const STATUS_ANNOTATION = 'llm-authz.io/injected';

/** Per-pod annotations, all optional. */
export const ANNOTATIONS = {
  /** `envoy` (llm-authz and an Envoy egress proxy) or `istio` (llm-authz only: Istio's proxy calls it). */
  mode: 'llm-authz.io/mode',
  /** ConfigMap holding llm-authz.yaml. */
  config: 'llm-authz.io/config',
  /** ConfigMap holding the CEL policy files. */
  policies: 'llm-authz.io/policies',
  /** Secret holding the key store (keys.json, written by `llm-authz keys`). */
  keyStore: 'llm-authz.io/key-store',
  /** Secret holding the provider keys, one file per provider. */
  providerKeys: 'llm-authz.io/provider-keys',
  /** ConfigMap holding the Envoy bootstrap (envoy.yaml); envoy mode only. */
  envoyConfig: 'llm-authz.io/envoy-config',
  /** `false`: leave the app containers' environment alone (no SDK base URLs). */
  sdkEnv: 'llm-authz.io/sdk-env',
} as const;

export type Mode = 'envoy' | 'istio';
export const MODES: readonly Mode[] = ['envoy', 'istio'];

/** The objects a pod's sidecars use when its annotations name no others. */
export const DEFAULT_OBJECTS = {
  config: 'llm-authz-sidecar',
  policies: 'llm-authz-policies',
  keyStore: 'llm-authz-keys',
  providerKeys: 'llm-provider-keys',
  envoyConfig: 'llm-authz-envoy',
} as const;

export const CONTAINERS = { authz: 'llm-authz', envoy: 'llm-authz-envoy' } as const;

export const VOLUMES = {
  config: 'llm-authz-config',
  policies: 'llm-authz-policies',
  keyStore: 'llm-authz-keys',
  providerKeys: 'llm-authz-provider-keys',
  envoyConfig: 'llm-authz-envoy',
} as const;

/** Where the sidecars find their files (the llm-authz config in the ConfigMap refers to them). */
export const MOUNTS = {
  config: '/etc/llm-authz/config',
  policies: '/etc/llm-authz/policies',
  keyStore: '/var/run/secrets/llm-authz/keys',
  providerKeys: '/var/run/secrets/llm-authz/providers',
  envoyConfig: '/etc/llm-authz/envoy',
} as const;

export const CONFIG_FILE = `${MOUNTS.config}/llm-authz.yaml`;
export const ENVOY_FILE = `${MOUNTS.envoyConfig}/envoy.yaml`;

/**
 * Ports inside the pod (the network namespace is shared with the app): llm-authz's Check on
 * loopback only (an allow carries provider keys: nothing outside the pod may ask), its health
 * on all addresses for the kubelet's probes; Envoy's egress listener on loopback (the apps'
 * SDK base URL), its admin on loopback, and a listener that serves only /ready for the kubelet.
 * In the 14000s: clear of Istio's 15000s and of common app ports.
 */
export const PORTS = {
  authzGrpc: 14001,
  authzHealth: 14002,
  envoyAdmin: 14000,
  envoyEgress: 14080,
  envoyReady: 14021,
} as const;

/** Namespaces the webhook never sees (with the injector's own, from its manifest). */
export const SYSTEM_NAMESPACES = ['kube-system', 'kube-public', 'kube-node-lease'] as const;
