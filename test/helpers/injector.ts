/**
 * The injection webhook as the tests run it: `llm-authz inject-webhook` (the built CLI) on a free
 * loopback port, registered in a test API server with the MutatingWebhookConfiguration of
 * deploy/kubernetes/overlays/injector, only its clientConfig pointed at that port (url + caBundle
 * instead of the in-cluster Service and cert-manager's CA injection).
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { parseAllDocuments } from 'yaml';
import type { KubeControlPlane } from '../../devstack/kube.ts';
import { startChild, type Child } from '../../devstack/process.ts';
import { cliEntry, ROOT } from '../../devstack/tools.ts';

export interface InjectorProcess {
  readonly child: Child;
  readonly port: number;
  readonly url: string;
  /** Parsed log lines. */
  logs(): Record<string, unknown>[];
  stop(): Promise<number | string>;
}

export async function startInjector(opts: { workDir: string; cert: string; key: string; args?: string[]; name?: string }): Promise<InjectorProcess> {
  const child = startChild(process.execPath, [cliEntry(), 'inject-webhook', '--listen', '127.0.0.1:0', '--tls-cert', opts.cert, '--tls-key', opts.key, ...(opts.args ?? [])], {
    logFile: path.join(opts.workDir, `${opts.name ?? 'inject-webhook'}.log`),
  });
  const line = await child.waitForLine('stderr', (l) => l.includes('"inject-webhook serving"'));
  const port = (JSON.parse(line) as { port: number }).port;
  return {
    child,
    port,
    url: `https://127.0.0.1:${port}/inject`,
    logs: () =>
      child.stderrLines.flatMap((l) => {
        try {
          return [JSON.parse(l) as Record<string, unknown>];
        } catch {
          return [];
        }
      }),
    stop: () => child.stop(),
  };
}

interface Webhook {
  name: string;
  clientConfig: Record<string, unknown>;
}

/** The shipped MutatingWebhookConfiguration, pointed at url and trusting caFile. */
export async function registerWebhook(kube: KubeControlPlane, url: string, caFile: string): Promise<Record<string, unknown>> {
  const docs = parseAllDocuments(await kube.kubectl(['kustomize', path.join(ROOT, 'deploy/kubernetes/overlays/injector')])).map(
    (d) => d.toJS() as { kind: string; metadata: { annotations?: Record<string, string> }; webhooks?: Webhook[] },
  );
  const mwc = docs.find((d) => d.kind === 'MutatingWebhookConfiguration');
  if (mwc?.webhooks === undefined) throw new Error('no MutatingWebhookConfiguration in overlays/injector');
  delete mwc.metadata.annotations;
  const caBundle = readFileSync(caFile).toString('base64');
  for (const w of mwc.webhooks) w.clientConfig = { url, caBundle };
  await kube.kubectl(['apply', '-f', '-'], { input: JSON.stringify(mwc) });
  return mwc as unknown as Record<string, unknown>;
}

/** A pod as the API server stores it, without what differs from run to run. */
export function stableObject(o: Record<string, unknown>): Record<string, unknown> {
  const out = structuredClone(o);
  const meta = out['metadata'] as Record<string, unknown>;
  for (const k of ['uid', 'creationTimestamp', 'resourceVersion', 'managedFields', 'generation']) delete meta[k];
  const ann = meta['annotations'] as Record<string, string> | undefined;
  if (ann) delete ann['kubectl.kubernetes.io/last-applied-configuration'];
  delete out['status'];
  return out;
}
