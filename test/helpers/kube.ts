/** One Kubernetes control plane (devstack/kube.ts) per test file, with the CRD sets it needs. */
import { execFileSync } from 'node:child_process';
import { readdirSync } from 'node:fs';
import path from 'node:path';
import { afterAll, afterEach, beforeAll } from 'vitest';
import { crdDir, type CRD_SETS, kubeBin } from '../../devstack/kube-tools.ts';
import { startKube, type KubeControlPlane } from '../../devstack/kube.ts';
import { newWorkDir } from './stack.ts';

export type CrdSet = keyof typeof CRD_SETS;

/** Installs CRD sets with server-side apply (a client-side apply of Envoy Gateway's envoyproxies CRD fails: its last-applied annotation is over 256 KiB) and waits until they are served. */
export async function installCrds(kube: KubeControlPlane, sets: readonly CrdSet[]): Promise<void> {
  for (const set of sets) {
    const dir = crdDir(set);
    const files = readdirSync(dir).filter((f) => f.endsWith('.yaml'));
    if (files.length === 0) throw new Error(`no CRD files in ${dir}`);
    await kube.kubectl(['apply', '--server-side', '--field-manager=test', ...files.flatMap((f) => ['-f', path.join(dir, f)])], { timeoutMs: 120_000 });
  }
  await kube.kubectl(['wait', '--for', 'condition=established', '--timeout=60s', 'crd', '--all'], { timeoutMs: 90_000 });
}

export function useKube(prefix: string, opts: { crds?: readonly CrdSet[] } = {}): () => KubeControlPlane {
  let kube: KubeControlPlane | undefined;
  let failed = false;
  beforeAll(async () => {
    kube = await startKube({ workDir: newWorkDir(prefix) });
    if (opts.crds !== undefined && opts.crds.length > 0) await installCrds(kube, opts.crds);
  }, 180_000);
  afterAll(async () => {
    if (kube) {
      await kube.stop();
      if (failed) process.stderr.write(`[e2e] control plane logs of the failed test kept in ${kube.workDir}\n`);
    }
  });
  afterEach((ctx) => {
    if (ctx.task.result?.state === 'fail') failed = true;
  });
  return () => {
    if (!kube) throw new Error('control plane not started');
    return kube;
  };
}

/** `kubectl kustomize DIR` (local: no API server needed). */
export function kustomize(dir: string): string {
  return execFileSync(kubeBin('kubectl'), ['kustomize', dir], { encoding: 'utf8', maxBuffer: 64 * 1024 * 1024 });
}
