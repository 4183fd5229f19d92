/**
 * The injection webhook registered in a real API server (the shipped MutatingWebhookConfiguration):
 * what it injects is what the API server stores (golden file), in a namespace that enforces the
 * restricted Pod Security Standard; opt-outs and other namespaces are untouched; a second pass
 * changes nothing; a refusal reaches the pod's creator; a kubelet-style swap of its certificate
 * files is served without a restart; and with the webhook down, pods are refused, naming it.
 */
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { createServer as createHttpsServer } from 'node:https';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { stringify } from 'yaml';
import { kubeletVolume, type KubeletVolume } from '../../devstack/kubelet-volume.ts';
import { createCa, loopbackServerCert } from '../../devstack/pki.ts';
import { waitFor } from '../../devstack/ports.ts';
import { ROOT } from '../../devstack/tools.ts';
import { INJECT_LABEL, STATUS_ANNOTATION } from '../../src/inject/constants.ts';
import { SERVICE_VERSION } from '../../src/telemetry/version.ts';
import { useKube } from '../helpers/kube.ts';
import { registerWebhook, stableObject, startInjector, type InjectorProcess } from '../helpers/injector.ts';
import { newWorkDir } from '../helpers/stack.ts';

const GOLDEN = path.join(ROOT, 'test/fixtures/k8s/injected-pod.yaml');

type Pod = {
  metadata: { name: string; labels?: Record<string, string>; annotations?: Record<string, string> };
  spec: { initContainers?: { name: string }[]; containers: { name: string; env?: unknown[] }[]; volumes?: { name: string }[] };
};

/** An app pod that itself meets the restricted Pod Security Standard. */
function appPod(name: string, extra: { labels?: Record<string, string>; annotations?: Record<string, string> } = {}): Record<string, unknown> {
  return {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { name, labels: { app: 'chat', ...extra.labels }, ...(extra.annotations ? { annotations: extra.annotations } : {}) },
    spec: {
      securityContext: { runAsNonRoot: true, runAsUser: 10001, seccompProfile: { type: 'RuntimeDefault' } },
      containers: [
        {
          name: 'app',
          image: 'example.com/chat-app:1.0',
          env: [{ name: 'OPENAI_API_KEY', valueFrom: { secretKeyRef: { name: 'chat-app-key', key: 'key' } } }],
          securityContext: { allowPrivilegeEscalation: false, capabilities: { drop: ['ALL'] } },
        },
      ],
    },
  };
}

describe('sidecar injection webhook in a real API server', () => {
  const kube = useKube('k8s-inject');
  const work = newWorkDir('k8s-inject-webhook');
  let injector: InjectorProcess;
  let certs: KubeletVolume;
  const ca = createCa(path.join(work, 'pki'), 'ca', 'webhook test CA');
  const serving = loopbackServerCert(ca, 'webhook');

  beforeAll(async () => {
    // The webhook reads its certificate from a Secret-style volume, as in its Deployment.
    certs = kubeletVolume(path.join(work, 'tls'), { 'tls.crt': readFileSync(serving.cert), 'tls.key': readFileSync(serving.key) });
    injector = await startInjector({ workDir: work, cert: path.join(certs.dir, 'tls.crt'), key: path.join(certs.dir, 'tls.key') });
    await registerWebhook(kube(), injector.url, ca.cert);
    const k = kube();
    await k.kubectl(['create', 'namespace', 'apps']);
    await k.kubectl(['label', 'namespace', 'apps', `${INJECT_LABEL}=enabled`, 'pod-security.kubernetes.io/enforce=restricted']);
    await k.kubectl(['create', 'namespace', 'plain']);
  });
  afterAll(async () => {
    await injector?.stop();
  });

  const create = async (ns: string, pod: Record<string, unknown>): Promise<Pod> => {
    await kube().kubectl(['create', '-n', ns, '-f', '-'], { input: JSON.stringify(pod) });
    return kube().getJson<Pod>(['pod', '-n', ns, String((pod['metadata'] as { name: string }).name)]);
  };

  it('stores a pod of a labelled namespace with exactly the injected spec (golden file), under PodSecurity restricted', async () => {
    const stored = stableObject((await create('apps', appPod('chat'))) as unknown as Record<string, unknown>);
    const text = stringify(stored, { lineWidth: 0 }).replaceAll(SERVICE_VERSION, '<version>');
    if (!existsSync(GOLDEN) || process.env['UPDATE_GOLDEN'] === '1') {
      if (process.env['UPDATE_GOLDEN'] !== '1') throw new Error(`${GOLDEN} is missing: write it with UPDATE_GOLDEN=1 and review it`);
      mkdirSync(path.dirname(GOLDEN), { recursive: true });
      writeFileSync(GOLDEN, text);
    }
    expect(text).toBe(readFileSync(GOLDEN, 'utf8'));
    const pod = stored as unknown as Pod;
    expect(pod.spec.initContainers?.map((c) => c.name)).toEqual(['llm-authz', 'llm-authz-envoy']);
    expect(pod.metadata.annotations?.[STATUS_ANNOTATION]).toBe(SERVICE_VERSION);
    expect(injector.logs().find((l) => l['pod'] === 'chat')).toMatchObject({ outcome: 'injected', mode: 'envoy', namespace: 'apps' });
  });

  it('leaves an opted-out pod untouched (the object selector keeps it from the webhook)', async () => {
    const before = injector.logs().length;
    const pod = await create('apps', appPod('opted-out', { labels: { [INJECT_LABEL]: 'false' } }));
    expect(pod.spec.initContainers).toBeUndefined();
    expect(pod.metadata.annotations?.[STATUS_ANNOTATION]).toBeUndefined();
    expect(pod.spec.containers[0]!.env).toHaveLength(1);
    expect(
      injector
        .logs()
        .slice(before)
        .filter((l) => l['msg'] === 'admission review'),
    ).toEqual([]);
  });

  it('leaves a pod of an unlabelled namespace untouched, unless the pod opts in', async () => {
    const plain = await create('plain', appPod('plain'));
    expect(plain.spec.initContainers).toBeUndefined();
    expect(plain.spec.volumes).toBeUndefined();
    const optedIn = await create('plain', appPod('opted-in', { labels: { [INJECT_LABEL]: 'true' } }));
    expect(optedIn.spec.initContainers?.map((c) => c.name)).toEqual(['llm-authz', 'llm-authz-envoy']);
  });

  it('changes nothing on a second pass: the injected pod created again is stored the same', async () => {
    const first = stableObject(await kube().getJson(['pod', '-n', 'apps', 'chat'])) as unknown as Pod;
    const again = structuredClone(first);
    again.metadata.name = 'chat-again';
    const second = stableObject((await create('apps', again as unknown as Record<string, unknown>)) as unknown as Record<string, unknown>) as unknown as Pod;
    expect({ ...second, metadata: { ...second.metadata, name: 'chat' } }).toEqual(first);
    expect(injector.logs().find((l) => l['pod'] === 'chat-again')).toMatchObject({ outcome: 'already_injected' });
  });

  it('is re-invoked after another webhook changed the pod (reinvocationPolicy IfNeeded) and changes nothing then', async () => {
    // Another mutating webhook, called after the injector (webhooks run in configuration-name
    // order): it adds a label, so the API server calls the injector again.
    const other = createHttpsServer({ cert: readFileSync(serving.cert), key: readFileSync(serving.key) }, (req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        const review = JSON.parse(Buffer.concat(chunks).toString('utf8')) as { request: { uid: string } };
        const patch = Buffer.from(JSON.stringify([{ op: 'add', path: '/metadata/labels/other-webhook', value: 'was-here' }])).toString('base64');
        res
          .writeHead(200, { 'content-type': 'application/json' })
          .end(JSON.stringify({ apiVersion: 'admission.k8s.io/v1', kind: 'AdmissionReview', response: { uid: review.request.uid, allowed: true, patchType: 'JSONPatch', patch } }));
      });
    });
    await new Promise<void>((r) => other.listen(0, '127.0.0.1', () => r()));
    const port = (other.address() as AddressInfo).port;
    try {
      await kube().kubectl(['apply', '-f', '-'], {
        input: JSON.stringify({
          apiVersion: 'admissionregistration.k8s.io/v1',
          kind: 'MutatingWebhookConfiguration',
          metadata: { name: 'zz-other-webhook' },
          webhooks: [
            {
              name: 'label.other.example',
              admissionReviewVersions: ['v1'],
              sideEffects: 'None',
              failurePolicy: 'Fail',
              reinvocationPolicy: 'Never',
              clientConfig: { url: `https://127.0.0.1:${port}/`, caBundle: readFileSync(ca.cert).toString('base64') },
              rules: [{ apiGroups: [''], apiVersions: ['v1'], operations: ['CREATE'], resources: ['pods'] }],
              objectSelector: { matchLabels: { reinvoke: 'yes' } },
            },
          ],
        }),
      });
      const pod = await create('apps', appPod('reinvoked', { labels: { reinvoke: 'yes' } }));
      expect(pod.metadata.labels?.['other-webhook']).toBe('was-here');
      expect(pod.spec.initContainers?.map((c) => c.name)).toEqual(['llm-authz', 'llm-authz-envoy']);
      expect(
        injector
          .logs()
          .filter((l) => l['pod'] === 'reinvoked')
          .map((l) => l['outcome']),
      ).toEqual(['injected', 'already_injected']);
    } finally {
      await kube().kubectl(['delete', 'mutatingwebhookconfiguration', 'zz-other-webhook']);
      other.close();
    }
  });

  it("refuses a pod it cannot patch: the creator sees the webhook's name and the reason", async () => {
    const r = await kube().run(['create', '-n', 'apps', '-f', '-'], { input: JSON.stringify(appPod('bad-mode', { annotations: { 'llm-authz.io/mode': 'linkerd' } })) });
    expect(r.code).not.toBe(0);
    expect(r.stderr).toContain(
      'admission webhook "namespace.inject.llm-authz.io" denied the request: llm-authz injector: annotation llm-authz.io/mode: \'linkerd\' is not one of envoy, istio',
    );
  });

  it('serves a certificate swapped in kubelet-style (new ..data) without a restart', async () => {
    const ca2 = createCa(path.join(work, 'pki2'), 'ca2', 'webhook test CA 2');
    const serving2 = loopbackServerCert(ca2, 'webhook2');
    await registerWebhook(kube(), injector.url, ca2.cert);
    // The API server now trusts only the new CA: the old certificate is refused...
    const refused = await kube().run(['create', '-n', 'apps', '-f', '-'], { input: JSON.stringify(appPod('before-rotation')) });
    expect(refused.stderr).toMatch(/failed calling webhook "namespace\.inject\.llm-authz\.io".*x509/);
    // ...until the webhook serves the new one.
    certs.update({ 'tls.crt': readFileSync(serving2.cert), 'tls.key': readFileSync(serving2.key) });
    await waitFor('the webhook to reload its certificate', () => (injector.logs().some((l) => l['msg'] === 'webhook certificate reloaded') ? true : undefined), 10_000);
    const pod = await create('apps', appPod('after-rotation'));
    expect(pod.spec.initContainers?.map((c) => c.name)).toEqual(['llm-authz', 'llm-authz-envoy']);
    expect(injector.child.proc.exitCode).toBeNull();
  });

  it('with the webhook down, refuses pod creation in an injected namespace, naming the webhook (failurePolicy Fail)', async () => {
    await injector.stop();
    const r = await kube().run(['create', '-n', 'apps', '-f', '-'], { input: JSON.stringify(appPod('no-webhook')) });
    expect(r.code).not.toBe(0);
    expect(r.stderr).toMatch(/failed calling webhook "namespace\.inject\.llm-authz\.io".*connection refused/);
    // Other namespaces are not affected.
    expect((await create('plain', appPod('still-fine'))).spec.initContainers).toBeUndefined();
  });
});
