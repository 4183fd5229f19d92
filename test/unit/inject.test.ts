/** The injection webhook's decisions, without a cluster (test/e2e/k8s-inject.test.ts runs it in one). */
import { describe, expect, it } from 'vitest';
import { ANNOTATIONS, CONTAINERS, INJECT_LABEL, STATUS_ANNOTATION } from '../../src/inject/constants.ts';
import { injectPod } from '../../src/inject/inject.ts';
import type { PatchOp, Pod } from '../../src/inject/pod.ts';
import { answerReview } from '../../src/inject/review.ts';
import { SDK_BASE_URL_ENV } from '../../src/inject/sdk-env.ts';
import type { InjectorOptions } from '../../src/inject/sidecars.ts';
import { applyAddPatch } from '../helpers/json-patch.ts';

const OPTS: InjectorOptions = { authzImage: 'llm-authz:test', envoyImage: 'envoyproxy/envoy:test', defaultMode: 'envoy', version: '0.0.0-test' };

function pod(
  over: { labels?: Record<string, string>; annotations?: Record<string, string>; env?: { name: string; value: string }[]; init?: unknown[]; volumes?: unknown[] } = {},
): Pod {
  return {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { name: 'app', namespace: 'apps', ...(over.labels ? { labels: over.labels } : {}), ...(over.annotations ? { annotations: over.annotations } : {}) },
    spec: {
      containers: [{ name: 'app', image: 'app:1', ...(over.env ? { env: over.env } : {}) }],
      ...(over.init ? { initContainers: over.init as Pod['spec']['containers'] } : {}),
      ...(over.volumes ? { volumes: over.volumes as { name: string }[] } : {}),
    },
  };
}

function patched(p: Pod, opts = OPTS): Pod {
  const o = injectPod(p, opts);
  if (o.kind !== 'patch') throw new Error(`expected a patch, got ${JSON.stringify(o)}`);
  return applyAddPatch(p, o.ops as PatchOp[]);
}

const names = (cs: { name: string }[] | undefined): string[] => (cs ?? []).map((c) => c.name);
const envOf = (p: Pod): Record<string, string> => Object.fromEntries((p.spec.containers[0]!.env ?? []).map((e) => [e.name, String((e as { value?: string }).value)]));

describe('injector', () => {
  it('adds llm-authz and Envoy as native sidecars, their volumes, the SDK base URLs and the status annotation', () => {
    const out = patched(pod());
    expect(names(out.spec.initContainers)).toEqual([CONTAINERS.authz, CONTAINERS.envoy]);
    for (const c of out.spec.initContainers ?? []) {
      expect(c).toMatchObject({
        restartPolicy: 'Always',
        securityContext: {
          runAsNonRoot: true,
          readOnlyRootFilesystem: true,
          allowPrivilegeEscalation: false,
          capabilities: { drop: ['ALL'] },
          seccompProfile: { type: 'RuntimeDefault' },
        },
      });
    }
    expect(names(out.spec.volumes)).toEqual(['llm-authz-config', 'llm-authz-policies', 'llm-authz-keys', 'llm-authz-provider-keys', 'llm-authz-envoy']);
    expect(envOf(out)).toEqual(Object.fromEntries(SDK_BASE_URL_ENV.map((e) => [e.name, e.value])));
    expect(envOf(out)['OPENAI_BASE_URL']).toBe('http://127.0.0.1:14080/v1');
    expect(out.metadata?.annotations?.[STATUS_ANNOTATION]).toBe('0.0.0-test');
  });

  it("puts the sidecars before the pod's own init containers and adds to existing lists", () => {
    const out = patched(
      pod({ init: [{ name: 'migrate', image: 'm:1' }], volumes: [{ name: 'data', emptyDir: {} }], annotations: { team: 'a' }, env: [{ name: 'X', value: '1' }] }),
    );
    expect(names(out.spec.initContainers)).toEqual([CONTAINERS.authz, CONTAINERS.envoy, 'migrate']);
    expect(names(out.spec.volumes)[0]).toBe('data');
    expect(out.metadata?.annotations).toMatchObject({ team: 'a', [STATUS_ANNOTATION]: '0.0.0-test' });
    expect(envOf(out)['X']).toBe('1');
  });

  it('leaves a base URL the container sets itself', () => {
    const out = patched(pod({ env: [{ name: 'OPENAI_BASE_URL', value: 'http://mine/v1' }] }));
    expect(envOf(out)['OPENAI_BASE_URL']).toBe('http://mine/v1');
    expect(envOf(out)['ANTHROPIC_BASE_URL']).toBe('http://127.0.0.1:14080');
  });

  it('sets no environment with llm-authz.io/sdk-env: "false"', () => {
    expect(patched(pod({ annotations: { [ANNOTATIONS.sdkEnv]: 'false' } })).spec.containers[0]!.env).toBeUndefined();
  });

  it('mounts the ConfigMaps and Secrets the annotations name', () => {
    const out = patched(
      pod({
        annotations: {
          [ANNOTATIONS.config]: 'my-config',
          [ANNOTATIONS.policies]: 'my-policies',
          [ANNOTATIONS.providerKeys]: 'my-keys',
          [ANNOTATIONS.keyStore]: 'my-store',
          [ANNOTATIONS.envoyConfig]: 'my-envoy',
        },
      }),
    );
    expect(out.spec.volumes).toEqual([
      { name: 'llm-authz-config', configMap: { name: 'my-config' } },
      { name: 'llm-authz-policies', configMap: { name: 'my-policies' } },
      { name: 'llm-authz-keys', secret: { secretName: 'my-store' } },
      { name: 'llm-authz-provider-keys', secret: { secretName: 'my-keys' } },
      { name: 'llm-authz-envoy', configMap: { name: 'my-envoy' } },
    ]);
  });

  it("injects llm-authz only in istio mode (annotation, or a pod that carries Istio's proxy)", () => {
    const byAnnotation = patched(pod({ annotations: { [ANNOTATIONS.mode]: 'istio' } }));
    expect(names(byAnnotation.spec.initContainers)).toEqual([CONTAINERS.authz]);
    expect(byAnnotation.spec.containers[0]!.env).toBeUndefined();
    const withProxy = patched(pod({ init: [{ name: 'istio-proxy', image: 'proxyv2' }] }));
    expect(names(withProxy.spec.initContainers)).toEqual([CONTAINERS.authz, 'istio-proxy']);
    expect(names(patched(pod(), { ...OPTS, defaultMode: 'istio' }).spec.initContainers)).toEqual([CONTAINERS.authz]);
  });

  it('is idempotent: an injected pod passed again gets no patch', () => {
    const once = patched(pod({ env: [{ name: 'X', value: '1' }] }));
    expect(injectPod(once, OPTS)).toEqual({ kind: 'unchanged', why: 'already_injected' });
  });

  it('leaves an opted-out pod alone', () => {
    expect(injectPod(pod({ labels: { [INJECT_LABEL]: 'false' } }), OPTS)).toEqual({ kind: 'unchanged', why: 'opted_out' });
    expect(injectPod(pod({ labels: { [INJECT_LABEL]: 'true' } }), OPTS).kind).toBe('patch');
  });

  it.each([
    [{ labels: { [INJECT_LABEL]: 'yes' } }, "label llm-authz.io/inject: 'yes' is not one of true, false"],
    [{ annotations: { [ANNOTATIONS.mode]: 'linkerd' } }, "annotation llm-authz.io/mode: 'linkerd' is not one of envoy, istio"],
    [{ annotations: { [ANNOTATIONS.sdkEnv]: 'off' } }, "annotation llm-authz.io/sdk-env: 'off' is not one of true, false"],
    [{ annotations: { [ANNOTATIONS.config]: 'My_Config' } }, "annotation llm-authz.io/config: 'My_Config' is not a valid object name"],
    [{ annotations: { 'llm-authz.io/polices': 'x' } }, 'unknown annotation llm-authz.io/polices; the injector reads llm-authz.io/mode, llm-authz.io/config, llm-authz.io/policies'],
    [{ volumes: [{ name: 'llm-authz-config', emptyDir: {} }] }, 'the pod already has a volume named llm-authz-config'],
    [{ init: [{ name: 'llm-authz-envoy', image: 'x' }] }, 'the pod already has a container named llm-authz-envoy'],
  ])('refuses %j with a message naming the problem', (over, message) => {
    const o = injectPod(pod(over), OPTS);
    expect(o.kind).toBe('refused');
    expect(o.kind === 'refused' && o.message).toContain(message);
  });

  it('refuses an object that is not a pod it can patch', () => {
    expect(injectPod({ spec: { containers: [] } }, OPTS)).toMatchObject({ kind: 'refused', message: expect.stringContaining('spec.containers') });
    expect(injectPod('pod', OPTS)).toMatchObject({ kind: 'refused' });
  });
});

describe('AdmissionReview answers', () => {
  const review = (object: unknown, over: Record<string, unknown> = {}): string =>
    JSON.stringify({
      apiVersion: 'admission.k8s.io/v1',
      kind: 'AdmissionReview',
      request: { uid: 'u-1', kind: { group: '', version: 'v1', kind: 'Pod' }, operation: 'CREATE', namespace: 'apps', object, ...over },
    });

  it('answers with the uid, allowed, and a base64 JSONPatch', () => {
    const a = answerReview(review(pod()), OPTS);
    expect(a.httpStatus).toBe(200);
    expect(a.body).toMatchObject({ apiVersion: 'admission.k8s.io/v1', kind: 'AdmissionReview', response: { uid: 'u-1', allowed: true, patchType: 'JSONPatch' } });
    const ops = JSON.parse(Buffer.from(a.body.response.patch!, 'base64').toString('utf8')) as PatchOp[];
    expect(ops.every((o) => o.op === 'add')).toBe(true);
    expect(a.log).toMatchObject({ outcome: 'injected', mode: 'envoy', pod: 'app' });
  });

  it('refuses a pod it cannot patch: allowed false, with the reason', () => {
    const a = answerReview(review(pod({ annotations: { [ANNOTATIONS.mode]: 'linkerd' } })), OPTS);
    expect(a.body.response).toEqual({
      uid: 'u-1',
      allowed: false,
      status: { code: 400, message: "llm-authz injector: annotation llm-authz.io/mode: 'linkerd' is not one of envoy, istio" },
    });
  });

  it('refuses a malformed review: with its uid when it has one, else with HTTP 400', () => {
    const noKind = answerReview(JSON.stringify({ apiVersion: 'admission.k8s.io/v1', kind: 'AdmissionReview', request: { uid: 'u-2', operation: 'CREATE' } }), OPTS);
    expect(noKind.httpStatus).toBe(200);
    expect(noKind.body.response).toMatchObject({ uid: 'u-2', allowed: false, status: { message: expect.stringContaining('request.kind') } });
    const v1beta1 = answerReview(review(pod()).replace('admission.k8s.io/v1', 'admission.k8s.io/v1beta1'), OPTS);
    expect(v1beta1.body.response.status?.message).toContain('expected apiVersion admission.k8s.io/v1');
    for (const text of ['not json', '[]', '{}']) {
      const a = answerReview(text, OPTS);
      expect(a.httpStatus).toBe(400);
      expect(a.body.response.allowed).toBe(false);
    }
  });

  it('passes anything but a pod CREATE untouched', () => {
    expect(answerReview(review(pod(), { operation: 'UPDATE' }), OPTS).body.response).toEqual({ uid: 'u-1', allowed: true });
    expect(answerReview(review({}, { kind: { group: 'apps', version: 'v1', kind: 'Deployment' } }), OPTS).body.response).toEqual({ uid: 'u-1', allowed: true });
  });

  it('never logs the pod (its env may hold secrets)', () => {
    const a = answerReview(review(pod({ env: [{ name: 'TOKEN', value: 'sk-secret-value' }] })), OPTS);
    expect(JSON.stringify(a.log)).not.toContain('sk-secret-value');
  });
});
