/**
 * Writes the generated files under deploy/kubernetes/ (devstack/kube-manifests.ts says which and
 * from what). Run after changing examples/policies/rules/ or the gateway Envoy templates:
 *   node scripts/render-kubernetes.ts     (test/e2e/k8s-manifests.test.ts checks they are current)
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { generatedKubernetesFiles } from '../devstack/kube-manifests.ts';
import { ROOT } from '../devstack/tools.ts';

for (const [file, text] of Object.entries(generatedKubernetesFiles())) {
  mkdirSync(path.dirname(path.join(ROOT, file)), { recursive: true });
  writeFileSync(path.join(ROOT, file), text);
  process.stdout.write(`wrote ${file}\n`);
}
