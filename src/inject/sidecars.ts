/**
 * The containers and volumes injected into a pod: llm-authz and (in envoy mode) an Envoy egress
 * proxy, both native sidecars (init containers with restartPolicy Always: started before the
 * app's containers and stopped after them), under the restricted Pod Security Standard.
 */
import { CONFIG_FILE, CONTAINERS, ENVOY_FILE, MOUNTS, PORTS, VOLUMES, type Mode } from './constants.ts';

export interface InjectorOptions {
  /** The llm-authz image for the sidecar. */
  readonly authzImage: string;
  /** The Envoy image (envoy mode). */
  readonly envoyImage: string;
  /** The mode of pods whose annotations name none (and that carry no Istio proxy). */
  readonly defaultMode: Mode;
  /** Written into the status annotation. */
  readonly version: string;
}

/** The objects a pod's sidecars mount (from its annotations or the defaults). */
export interface SidecarObjects {
  readonly config: string;
  readonly policies: string;
  readonly keyStore: string;
  readonly providerKeys: string;
  readonly envoyConfig: string;
}

/** Non-root, read-only root filesystem, no privilege escalation, no capabilities, the runtime's seccomp profile. */
const RESTRICTED = {
  runAsNonRoot: true,
  runAsUser: 65532,
  runAsGroup: 65532,
  allowPrivilegeEscalation: false,
  readOnlyRootFilesystem: true,
  capabilities: { drop: ['ALL'] },
  seccompProfile: { type: 'RuntimeDefault' },
} as const;

/** The pod's identity for llm-authz's telemetry resource (src/telemetry/otel.ts reads them). */
const DOWNWARD_ENV = [
  { name: 'POD_NAME', valueFrom: { fieldRef: { fieldPath: 'metadata.name' } } },
  { name: 'POD_NAMESPACE', valueFrom: { fieldRef: { fieldPath: 'metadata.namespace' } } },
  { name: 'NODE_NAME', valueFrom: { fieldRef: { fieldPath: 'spec.nodeName' } } },
  { name: 'POD_UID', valueFrom: { fieldRef: { fieldPath: 'metadata.uid' } } },
];

/**
 * Node for the sidecar's 256 MiB limit (README "Sizing", bench/cgroup-load.ts). Under any cgroup
 * limit up to 1 GiB, V8 takes the smallest old-generation maximum (256 MB) and with it its smallest
 * heap growing factor (1.3): it then marks and compacts the heap several times a second under load
 * and a Check costs 1.7-1.9 times its CPU without a limit. Growing by 150% instead, capped at
 * 96 MB of old generation: at 256 MiB, with the Node binary's pages charged to the container, 0
 * OOM kills and the unlimited throughput; at 128 MiB with those pages charged elsewhere, 0 OOM
 * kills in 24 runs at 84-105% of the unlimited throughput (capped at 128 MB: 10 in 36), but
 * with them charged to the container, 0 Checks/s (its code read back from disk without end), so
 * the limit stays 256 MiB. `--heap-growing-percent` is not allowed in NODE_OPTIONS, so the command
 * replaces the image's entrypoint (deploy/Dockerfile).
 */
export const AUTHZ_NODE_FLAGS: readonly string[] = ['--max-semi-space-size=8', '--max-old-space-size=96', '--heap-growing-percent=150'];
const AUTHZ_COMMAND = ['node', ...AUTHZ_NODE_FLAGS, 'bin/llm-authz.js'];

export function authzContainer(opts: InjectorOptions): Record<string, unknown> {
  const health = (service: string): Record<string, unknown> => ({ grpc: { port: PORTS.authzHealth, service } });
  return {
    name: CONTAINERS.authz,
    image: opts.authzImage,
    restartPolicy: 'Always',
    command: AUTHZ_COMMAND,
    args: ['serve', '--config', CONFIG_FILE, '--listen', `127.0.0.1:${PORTS.authzGrpc}`, '--health-listen', `0.0.0.0:${PORTS.authzHealth}`],
    env: DOWNWARD_ENV,
    ports: [{ name: 'authz-health', containerPort: PORTS.authzHealth, protocol: 'TCP' }],
    // The kubelet starts the next container (Envoy, then the app) once this succeeds.
    startupProbe: { ...health('envoy.service.auth.v3.Authorization'), periodSeconds: 1, failureThreshold: 60 },
    readinessProbe: { ...health('envoy.service.auth.v3.Authorization'), periodSeconds: 5 },
    // Idle RSS 79-80 MiB with these flags; under maximum load 256 MiB is reached (page cache included), and 128 MiB is
    // not enough when the Node binary's pages are charged to this container (README "Sizing").
    resources: { requests: { cpu: '50m', memory: '128Mi' }, limits: { memory: '256Mi' } },
    securityContext: RESTRICTED,
    volumeMounts: [
      { name: VOLUMES.config, mountPath: MOUNTS.config, readOnly: true },
      { name: VOLUMES.policies, mountPath: MOUNTS.policies, readOnly: true },
      { name: VOLUMES.keyStore, mountPath: MOUNTS.keyStore, readOnly: true },
      { name: VOLUMES.providerKeys, mountPath: MOUNTS.providerKeys, readOnly: true },
    ],
  };
}

export function envoyContainer(opts: InjectorOptions): Record<string, unknown> {
  const ready = { httpGet: { path: '/ready', port: PORTS.envoyReady } };
  return {
    name: CONTAINERS.envoy,
    image: opts.envoyImage,
    restartPolicy: 'Always',
    command: ['envoy'],
    args: ['-c', ENVOY_FILE, '--disable-hot-restart', '--log-level', 'warn'],
    ports: [{ name: 'envoy-ready', containerPort: PORTS.envoyReady, protocol: 'TCP' }],
    startupProbe: { ...ready, periodSeconds: 1, failureThreshold: 60 },
    readinessProbe: { ...ready, periodSeconds: 5 },
    resources: { requests: { cpu: '50m', memory: '64Mi' }, limits: { memory: '256Mi' } },
    securityContext: RESTRICTED,
    volumeMounts: [{ name: VOLUMES.envoyConfig, mountPath: MOUNTS.envoyConfig, readOnly: true }],
  };
}

export function sidecarContainers(mode: Mode, opts: InjectorOptions): Record<string, unknown>[] {
  return mode === 'envoy' ? [authzContainer(opts), envoyContainer(opts)] : [authzContainer(opts)];
}

export function sidecarVolumes(mode: Mode, objects: SidecarObjects): Record<string, unknown>[] {
  const volumes: Record<string, unknown>[] = [
    { name: VOLUMES.config, configMap: { name: objects.config } },
    { name: VOLUMES.policies, configMap: { name: objects.policies } },
    { name: VOLUMES.keyStore, secret: { secretName: objects.keyStore } },
    { name: VOLUMES.providerKeys, secret: { secretName: objects.providerKeys } },
  ];
  if (mode === 'envoy') volumes.push({ name: VOLUMES.envoyConfig, configMap: { name: objects.envoyConfig } });
  return volumes;
}
