/**
 * Every kustomization under deploy/kubernetes/ builds (kubectl kustomize) and passes
 * `kubectl apply --dry-run=server --validate=strict` against a real kube-apiserver holding the real
 * CRDs of Gateway API, Envoy Gateway, Istio and cert-manager; a broken copy of each object is
 * rejected (the check can fail). The Istio rules the CRDs cannot express are checked by
 * test/helpers/istio-rules.ts, and its checks are shown to fail on broken copies. The generated
 * files (policies ConfigMap, sidecar Envoy bootstrap) are current.
 */
import { spawnSync } from 'node:child_process';
import { cpSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { parseAllDocuments, parse } from 'yaml';
import { examplePolicyFiles, generatedKubernetesFiles, POLICY_SOURCE_DIR } from '../../devstack/kube-manifests.ts';
import { ROOT } from '../../devstack/tools.ts';
import { PORTS } from '../../src/inject/constants.ts';
import { kustomize, useKube } from '../helpers/kube.ts';
import { kubeBin } from '../../devstack/kube-tools.ts';
import { createCa, loopbackServerCert } from '../../devstack/pki.ts';
import { checkAuthorizationPolicies, checkExtensionProviders, extensionProviderNames, meshConfigProto } from '../helpers/istio-rules.ts';

type Obj = {
  apiVersion: string;
  kind: string;
  metadata: { name: string; namespace?: string; labels?: Record<string, string> };
  spec?: Record<string, unknown>;
  data?: Record<string, string>;
};

/** Each kustomization, and the namespace its namespace-less objects are applied in. */
const KUSTOMIZATIONS: Record<string, string | undefined> = {
  base: 'apps',
  deployment: undefined,
  'overlays/gateway': undefined,
  'overlays/injector': undefined,
  'overlays/sidecar': 'apps',
  'overlays/istio-shared': undefined,
  'overlays/istio-per-pod': 'apps',
  'overlays/envoy-gateway': undefined,
};
const K8S = path.join(ROOT, 'deploy/kubernetes');

describe('Kubernetes manifests against a real API server', () => {
  const kube = useKube('k8s-manifests', { crds: ['gatewayApi', 'envoyGateway', 'istio', 'certManager'] });
  const built = new Map<string, Obj[]>();

  async function build(dir: string): Promise<Obj[]> {
    const cached = built.get(dir);
    if (cached) return cached;
    const text = await kube().kubectl(['kustomize', path.join(K8S, dir)]);
    const objs = parseAllDocuments(text)
      .map((d) => d.toJS() as Obj)
      .filter(Boolean);
    built.set(dir, objs);
    return objs;
  }

  async function dryRun(objs: readonly Obj[], namespace: string | undefined): Promise<{ code: number; stdout: string; stderr: string }> {
    const input = objs.map((o) => JSON.stringify(o)).join('\n');
    return kube().run(['apply', '--dry-run=server', '--validate=strict', ...(namespace ? ['-n', namespace] : []), '-f', '-'], { input });
  }

  it('has every kustomization folder in the list (none escapes the check)', async () => {
    const { readdirSync, existsSync } = await import('node:fs');
    const found = ['base', 'deployment', ...readdirSync(path.join(K8S, 'overlays')).map((d) => `overlays/${d}`)].filter((d) => existsSync(path.join(K8S, d, 'kustomization.yaml')));
    expect(found.sort()).toEqual(Object.keys(KUSTOMIZATIONS).sort());
  });

  it('creates the namespaces the manifests use (a dry run does not create them)', async () => {
    for (const name of ['llm-authz', 'llm-authz-system', 'istio-system', 'apps']) {
      await kube().kubectl(['apply', '-f', '-'], { input: JSON.stringify({ apiVersion: 'v1', kind: 'Namespace', metadata: { name } }) });
    }
  });

  it.each(Object.entries(KUSTOMIZATIONS))('%s passes a strict server-side dry run', async (dir, namespace) => {
    const objs = await build(dir);
    expect(objs.length).toBeGreaterThan(0);
    const r = await dryRun(objs, namespace);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    // One line per object: "<kind>/<name> created (server dry run)" ("configured" for the namespaces made above).
    const lines = r.stdout.trim().split('\n');
    expect(lines).toHaveLength(objs.length);
    for (const l of lines) expect(l).toMatch(/ (created|configured) \(server dry run\)$/);
  });

  it.each(Object.entries(KUSTOMIZATIONS))('%s: a copy with an unknown field in every object is rejected, object by object', async (dir, namespace) => {
    const objs = (await build(dir)).map((o) => ({ ...o, spec: { ...(o.spec ?? {}), llmAuthzBogusField: 1 }, ...(o.spec === undefined ? { llmAuthzBogusTop: 1 } : {}) }));
    const r = await dryRun(objs, namespace);
    expect(r.code).not.toBe(0);
    const errors = r.stderr.split('\n').filter((l) => /unknown field "(spec\.llmAuthzBogusField|llmAuthzBogusTop)"/.test(l));
    expect(errors, r.stderr).toHaveLength(objs.length);
  });

  // Breaks a real CRD or core schema would catch beyond unknown fields: enums, CEL rules, types.
  const SEMANTIC_BREAKS: { dir: string; kind: string; name: string; mutate(o: Obj): void; error: RegExp }[] = [
    {
      dir: 'overlays/envoy-gateway',
      kind: 'SecurityPolicy',
      name: 'llm-authz',
      mutate: (o) => void ((o.spec!['extAuth'] as Record<string, unknown>)['http'] = { backendRefs: [{ name: 'x', port: 80 }] }),
      error: /only one of grpc or http can be specified/,
    },
    {
      dir: 'overlays/envoy-gateway',
      kind: 'HTTPRoute',
      name: 'openai',
      mutate: (o) => void ((o.spec!['rules'] as { backendRefs: { kind: string }[] }[])[0]!.backendRefs[0]!.kind = 'Backend!'),
      error: /kind/,
    },
    {
      dir: 'overlays/envoy-gateway',
      kind: 'Backend',
      name: 'openai',
      mutate: (o) => void ((o.spec!['tls'] as Record<string, unknown>)['caCertificateRefs'] = [{ group: '', kind: 'ConfigMap', name: 'x' }]),
      error: /must not contain both CACertificateRefs and WellKnownCACertificates/,
    },
    {
      dir: 'overlays/envoy-gateway',
      kind: 'EnvoyExtensionPolicy',
      name: 'llm-authz-outcomes',
      mutate: (o) => void ((o.spec!['extProc'] as { processingMode: { response: Record<string, unknown> } }[])[0]!.processingMode.response['body'] = 'Buffered'),
      error: /If shadowMode is enabled, body processing mode must be Streamed or unset/,
    },
    { dir: 'overlays/istio-shared', kind: 'AuthorizationPolicy', name: 'llm-authz', mutate: (o) => void (o.spec!['action'] = 'ALLOWED'), error: /action/ },
    {
      dir: 'overlays/istio-shared',
      kind: 'EnvoyFilter',
      name: 'llm-authz-outcomes',
      mutate: (o) => void ((o.spec!['configPatches'] as { match: Record<string, unknown> }[])[0]!.match['context'] = 'EGRESS'),
      error: /context/,
    },
    {
      dir: 'overlays/istio-per-pod',
      kind: 'EnvoyFilter',
      name: 'llm-authz-outcomes',
      mutate: (o) => void ((o.spec!['configPatches'] as { patch: Record<string, unknown> }[])[0]!.patch['operation'] = 'INSERT_SOMEWHERE'),
      error: /operation/,
    },
    { dir: 'overlays/istio-per-pod', kind: 'ServiceEntry', name: 'llm-authz-local', mutate: (o) => void (o.spec!['resolution'] = 'LOCALHOST'), error: /resolution/ },
    {
      dir: 'overlays/injector',
      kind: 'MutatingWebhookConfiguration',
      name: 'llm-authz-injector',
      mutate: (o) => void ((o as unknown as { webhooks: { failurePolicy: string }[] }).webhooks[0]!.failurePolicy = 'Sometimes'),
      error: /failurePolicy/,
    },
    { dir: 'overlays/injector', kind: 'Certificate', name: 'llm-authz-injector', mutate: (o) => void (o.spec!['privateKey'] = { algorithm: 'DSA' }), error: /algorithm/ },
    { dir: 'deployment', kind: 'HorizontalPodAutoscaler', name: 'llm-authz', mutate: (o) => void (o.spec!['minReplicas'] = 'two'), error: /minReplicas/ },
  ];

  it.each(SEMANTIC_BREAKS.map((b) => [`${b.dir} ${b.kind}/${b.name}`, b] as const))('%s: a semantically broken copy is rejected', async (_label, b) => {
    const objs = structuredClone(await build(b.dir));
    const target = objs.find((o) => o.kind === b.kind && o.metadata.name === b.name);
    expect(target, `${b.kind}/${b.name} in ${b.dir}`).toBeDefined();
    b.mutate(target!);
    const r = await dryRun([target!], KUSTOMIZATIONS[b.dir]);
    expect(r.code).not.toBe(0);
    expect(r.stderr).toMatch(b.error);
  });

  it('the pods of every overlay meet the restricted Pod Security Standard (enforced by the API server in a labelled namespace)', async () => {
    await kube().kubectl(['create', 'namespace', 'restricted']);
    await kube().kubectl(['label', 'namespace', 'restricted', 'pod-security.kubernetes.io/enforce=restricted']);
    const deployments = [...(await build('deployment')), ...(await build('overlays/gateway')), ...(await build('overlays/injector'))].filter((o) => o.kind === 'Deployment');
    expect(deployments.length).toBe(3);
    for (const d of deployments) {
      const pod = { apiVersion: 'v1', kind: 'Pod', metadata: { name: `${d.metadata.name}-check` }, spec: (d.spec!['template'] as { spec: unknown }).spec };
      const r = await kube().run(['create', '--dry-run=server', '-n', 'restricted', '-f', '-'], { input: JSON.stringify(pod) });
      expect(r.stderr, d.metadata.name).toBe('');
    }
    // The check can fail: the same pod with a container that may escalate privileges is refused.
    const d = deployments[0]!;
    const spec = structuredClone((d.spec!['template'] as { spec: { containers: Record<string, unknown>[] } }).spec);
    spec.containers[0]!['securityContext'] = { allowPrivilegeEscalation: true };
    const r = await kube().run(['create', '--dry-run=server', '-n', 'restricted', '-f', '-'], {
      input: JSON.stringify({ apiVersion: 'v1', kind: 'Pod', metadata: { name: 'escalating' }, spec }),
    });
    expect(r.stderr).toMatch(/violates PodSecurity "restricted:latest": allowPrivilegeEscalation != false/);
  });
});

describe('overlays/injector/no-cert-manager.sh against a real API server', () => {
  const kube = useKube('k8s-no-cert-manager', { crds: ['certManager'] });

  it('installs the injector with its own CA: the Secret, the caBundle that verifies it, no cert-manager objects', async () => {
    const k = kube();
    const r = spawnSync('bash', [path.join(K8S, 'overlays/injector/no-cert-manager.sh')], {
      encoding: 'utf8',
      timeout: 120_000,
      env: { ...process.env, KUBECTL: kubeBin('kubectl'), KUBECONFIG: k.kubeconfig },
    });
    expect(r.status, r.stderr).toBe(0);
    const secret = await k.getJson<{ type: string; data: Record<string, string> }>(['secret', '-n', 'llm-authz-system', 'llm-authz-injector-tls']);
    expect(secret.type).toBe('kubernetes.io/tls');
    const mwc = await k.getJson<{
      metadata: { annotations?: Record<string, string> };
      webhooks: { name: string; clientConfig: { caBundle: string; service: { name: string } } }[];
    }>(['mutatingwebhookconfiguration', 'llm-authz-injector']);
    expect(mwc.webhooks.map((w) => w.name)).toEqual(['namespace.inject.llm-authz.io', 'object.inject.llm-authz.io']);
    expect(mwc.metadata.annotations?.['cert-manager.io/inject-ca-from']).toBeUndefined();
    const dir = mkdtempSync(path.join(os.tmpdir(), 'llm-authz-injector-ca-'));
    writeFileSync(path.join(dir, 'ca.crt'), Buffer.from(mwc.webhooks[0]!.clientConfig.caBundle, 'base64'));
    writeFileSync(path.join(dir, 'tls.crt'), Buffer.from(secret.data['tls.crt']!, 'base64'));
    const verify = spawnSync('openssl', ['verify', '-CAfile', path.join(dir, 'ca.crt'), path.join(dir, 'tls.crt')], { encoding: 'utf8' });
    expect(verify.stdout).toContain(': OK');
    const text = spawnSync('openssl', ['x509', '-in', path.join(dir, 'tls.crt'), '-noout', '-ext', 'subjectAltName'], { encoding: 'utf8' }).stdout;
    expect(text).toContain('DNS:llm-authz-injector.llm-authz-system.svc');
    expect((await k.kubectl(['get', 'issuers,certificates', '-n', 'llm-authz-system', '-o', 'name'])).trim()).toBe('');
    expect((await k.kubectl(['get', 'deployment', '-n', 'llm-authz-system', '-o', 'name'])).trim()).toBe('deployment.apps/llm-authz-injector');
    // The check can fail: a certificate of another CA does not verify against that caBundle.
    const other = createCa(path.join(dir, 'other'), 'other', 'other CA');
    const foreign = loopbackServerCert(other, 'foreign');
    expect(spawnSync('openssl', ['verify', '-CAfile', path.join(dir, 'ca.crt'), foreign.cert], { encoding: 'utf8' }).status).not.toBe(0);
  });
});

describe('Istio rules the CRDs do not express', () => {
  const proto = (): string => meshConfigProto();
  const overlays = [
    { dir: 'overlays/istio-shared', provider: 'llm-authz' },
    { dir: 'overlays/istio-per-pod', provider: 'llm-authz-local' },
  ];

  it.each(overlays)('$dir: the mesh config uses only MeshConfig fields, and every CUSTOM policy names one of its providers', async ({ dir, provider }) => {
    const mesh = parse(readFileSync(path.join(K8S, dir, 'mesh-config.yaml'), 'utf8')) as unknown;
    expect(checkExtensionProviders(mesh, proto())).toEqual([]);
    const providers = extensionProviderNames(mesh);
    expect([...providers]).toEqual([provider]);
    const objs = parseAllDocuments(kustomize(path.join(K8S, dir))).map((d) => d.toJS() as Obj);
    const policies = objs.filter((o) => o.kind === 'AuthorizationPolicy');
    expect(policies.length).toBeGreaterThan(0);
    expect(checkAuthorizationPolicies(objs, providers)).toEqual([]);
  });

  it('the providers point at what the overlays deploy: the llm-authz Service, and the injected llm-authz on loopback', async () => {
    const grpcOf = (dir: string): { service: string; port: number } =>
      (
        parse(readFileSync(path.join(K8S, dir, 'mesh-config.yaml'), 'utf8')) as {
          spec: { meshConfig: { extensionProviders: { envoyExtAuthzGrpc: { service: string; port: number } }[] } };
        }
      ).spec.meshConfig.extensionProviders[0]!.envoyExtAuthzGrpc;
    const shared = parseAllDocuments(kustomize(path.join(K8S, 'overlays/istio-shared'))).map((d) => d.toJS() as Obj);
    const svc = shared.find((o) => o.kind === 'Service' && o.metadata.name === 'llm-authz')!;
    expect(grpcOf('overlays/istio-shared')).toMatchObject({ service: `${svc.metadata.name}.${svc.metadata.namespace}.svc.cluster.local` });
    expect((svc.spec!['ports'] as { port: number }[]).map((p) => p.port)).toContain(grpcOf('overlays/istio-shared').port);
    const perPod = parseAllDocuments(kustomize(path.join(K8S, 'overlays/istio-per-pod'))).map((d) => d.toJS() as Obj);
    const se = perPod.find((o) => o.kind === 'ServiceEntry')!;
    expect(se.spec).toMatchObject({ hosts: [grpcOf('overlays/istio-per-pod').service], endpoints: [{ address: '127.0.0.1' }], ports: [{ number: PORTS.authzGrpc }] });
    expect(grpcOf('overlays/istio-per-pod').port).toBe(PORTS.authzGrpc);
  });

  it('the checks fail on broken copies', () => {
    const mesh = parse(readFileSync(path.join(K8S, 'overlays/istio-shared/mesh-config.yaml'), 'utf8')) as {
      spec: { meshConfig: { extensionProviders: Record<string, Record<string, unknown>>[] } };
    };
    const broken = structuredClone(mesh);
    const grpc = broken.spec.meshConfig.extensionProviders[0]!['envoyExtAuthzGrpc']!;
    grpc['includeRequestBody'] = {};
    delete grpc['port'];
    (grpc['includeRequestBodyInCheck'] as Record<string, unknown>)['maxBytes'] = 1;
    expect(checkExtensionProviders(broken, proto())).toEqual([
      'extensionProviders[0].envoyExtAuthzGrpc.includeRequestBody: not a field of EnvoyExternalAuthorizationGrpcProvider',
      'extensionProviders[0].envoyExtAuthzGrpc.port: required, 1-65535',
      'extensionProviders[0].envoyExtAuthzGrpc.includeRequestBodyInCheck.maxBytes: not a field of EnvoyExternalAuthorizationRequestBody',
    ]);
    const ap = (spec: Record<string, unknown>): Obj => ({ apiVersion: 'security.istio.io/v1', kind: 'AuthorizationPolicy', metadata: { name: 'p' }, spec });
    const providers = new Set(['llm-authz']);
    expect(checkAuthorizationPolicies([ap({ action: 'CUSTOM' })], providers)).toEqual(['AuthorizationPolicy p: action CUSTOM needs provider.name']);
    expect(checkAuthorizationPolicies([ap({ action: 'CUSTOM', provider: { name: 'opa' } })], providers)).toEqual([
      "AuthorizationPolicy p: provider 'opa' is not an extension provider of the mesh config (llm-authz)",
    ]);
    expect(checkAuthorizationPolicies([ap({ action: 'DENY', provider: { name: 'llm-authz' } })], providers)).toEqual(['AuthorizationPolicy p: action DENY takes no provider']);
    expect(checkAuthorizationPolicies([ap({ provider: { name: 'llm-authz' } })], providers)).toEqual(['AuthorizationPolicy p: action ALLOW takes no provider']);
  });
});

describe('generated manifests', () => {
  it('are current (node scripts/render-kubernetes.ts)', () => {
    for (const [file, text] of Object.entries(generatedKubernetesFiles())) {
      expect(readFileSync(path.join(ROOT, file), 'utf8'), file).toBe(text);
    }
  });

  it(`the policies ConfigMap carries exactly the files of ${POLICY_SOURCE_DIR}/`, () => {
    const cm = parse(readFileSync(path.join(K8S, 'base/policies.yaml'), 'utf8')) as Obj;
    expect(cm.data).toEqual(examplePolicyFiles());
    expect(Object.keys(cm.data ?? {}).length).toBeGreaterThan(0);
  });

  it('the drift check fails when an example policy changes, is added or is removed', () => {
    const copy = mkdtempSync(path.join(os.tmpdir(), 'llm-authz-k8s-drift-'));
    cpSync(path.join(ROOT, POLICY_SOURCE_DIR), path.join(copy, POLICY_SOURCE_DIR), { recursive: true });
    cpSync(path.join(ROOT, 'envoy'), path.join(copy, 'envoy'), { recursive: true });
    const committed = readFileSync(path.join(K8S, 'base/policies.yaml'), 'utf8');
    const file = 'deploy/kubernetes/base/policies.yaml';
    expect(generatedKubernetesFiles(copy)[file]).toBe(committed);
    const first = Object.keys(examplePolicyFiles(copy))[0]!;
    writeFileSync(path.join(copy, POLICY_SOURCE_DIR, first), `${readFileSync(path.join(copy, POLICY_SOURCE_DIR, first), 'utf8')}# changed\n`);
    expect(generatedKubernetesFiles(copy)[file]).not.toBe(committed);
    writeFileSync(path.join(copy, POLICY_SOURCE_DIR, first), readFileSync(path.join(ROOT, POLICY_SOURCE_DIR, first), 'utf8'));
    writeFileSync(path.join(copy, POLICY_SOURCE_DIR, '99-extra.yaml'), 'rules: []\n');
    expect(generatedKubernetesFiles(copy)[file]).toContain('99-extra.yaml');
  });
});
