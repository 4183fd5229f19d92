/** Where scripts/tools.sh k8s puts the Kubernetes control plane and the CRDs (.tools/k8s). */
import { existsSync } from 'node:fs';
import path from 'node:path';
import { TOOLS_DIR } from './tools.ts';

export const K8S_DIR = path.join(TOOLS_DIR, 'k8s');

const HINT = 'bash scripts/tools.sh k8s';

/** etcd, kube-apiserver or kubectl, as built by scripts/tools.sh k8s. */
export function kubeBin(name: 'etcd' | 'kube-apiserver' | 'kubectl'): string {
  const p = path.join(K8S_DIR, 'bin', name);
  if (!existsSync(p)) throw new Error(`${name} is missing: expected it at ${p}. Build it with: ${HINT}`);
  return p;
}

/** The CRD sets copied from their Go modules. */
export const CRD_SETS = {
  /** Gateway API, standard channel. */
  gatewayApi: 'gateway-api/standard',
  envoyGateway: 'envoy-gateway',
  istio: 'istio',
  certManager: 'cert-manager',
} as const;

export function crdDir(set: keyof typeof CRD_SETS): string {
  const p = path.join(K8S_DIR, 'crds', CRD_SETS[set]);
  if (!existsSync(p)) throw new Error(`the ${set} CRDs are missing: expected them in ${p}. Copy them with: ${HINT}`);
  return p;
}
