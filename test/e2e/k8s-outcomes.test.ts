/**
 * The outcome-record filter of each mesh overlay (Envoy Gateway's EnvoyExtensionPolicy, Istio's
 * EnvoyFilters) is what envoy/gateway.yaml runs: ext_proc after ext_authz, observation only
 * (Envoy never waits for llm-authz), failing open, response headers and streamed body sent, with
 * ext_authz's metadata (the join to the decision), pointed at the llm-authz the overlay deploys.
 * The API server checks these objects' schemas (test/e2e/k8s-manifests.test.ts); it cannot check
 * an EnvoyFilter's Envoy config (a free-form object), so these checks compare it with the gateway
 * template's filter, which the real Envoy validates (test/e2e/envoy-configs.test.ts). Each check
 * is shown to fail on a broken copy.
 */
import path from 'node:path';
import { isDeepStrictEqual } from 'node:util';
import { describe, expect, it } from 'vitest';
import { parse, parseAllDocuments } from 'yaml';
import { QUICKSTART_ENVOY_PARAMS, renderEnvoyConfig } from '../../devstack/envoy.ts';
import { ROOT } from '../../devstack/tools.ts';
import { PORTS } from '../../src/inject/constants.ts';
import { kustomize } from '../helpers/kube.ts';

type Obj = { kind: string; metadata: { name: string; namespace?: string }; spec: Record<string, unknown> };
type Filter = { name: string; typed_config: Record<string, unknown> };

const K8S = path.join(ROOT, 'deploy/kubernetes');
const EXT_AUTHZ = 'envoy.filters.http.ext_authz';
const EXT_PROC = 'envoy.filters.http.ext_proc';

function build(dir: string): Obj[] {
  return parseAllDocuments(kustomize(path.join(K8S, dir)))
    .map((d) => d.toJS() as Obj)
    .filter(Boolean);
}

/** The ext_proc filter of envoy/gateway.yaml and the filter before it. */
function gatewayFilters(): { before: string; extProc: Filter } {
  const config = parse(renderEnvoyConfig('envoy/gateway.yaml', QUICKSTART_ENVOY_PARAMS)) as {
    static_resources: { listeners: { filter_chains: { filters: { typed_config: { http_filters: Filter[] } }[] }[] }[] };
  };
  const filters = config.static_resources.listeners[0]!.filter_chains[0]!.filters[0]!.typed_config.http_filters;
  const i = filters.findIndex((f) => f.name === EXT_PROC);
  if (i < 1) throw new Error('envoy/gateway.yaml has no ext_proc filter after another filter');
  return { before: filters[i - 1]!.name, extProc: filters[i]! };
}

/** What is wrong with an Istio EnvoyFilter that should insert the outcome filter (none: []). */
function envoyFilterProblems(f: Obj, context: string, cluster: string): string[] {
  const problems: string[] = [];
  const patches = f.spec['configPatches'] as { applyTo: string; match: Record<string, unknown>; patch: { operation: string; value: Filter } }[];
  if (patches.length !== 1) return [`${patches.length} patches, expected 1`];
  const p = patches[0]!;
  const sub = (p.match['listener'] as { filterChain?: { filter?: { subFilter?: { name?: string } } } } | undefined)?.filterChain?.filter?.subFilter?.name;
  if (p.applyTo !== 'HTTP_FILTER') problems.push(`applyTo ${p.applyTo}`);
  if (p.match['context'] !== context) problems.push(`context ${String(p.match['context'])}, expected ${context}`);
  if (p.patch.operation !== 'INSERT_AFTER' || sub !== EXT_AUTHZ) problems.push(`not inserted right after ${EXT_AUTHZ} (${p.patch.operation} ${sub})`);
  const ours = structuredClone(p.patch.value);
  const theirs = structuredClone(gatewayFilters().extProc);
  const grpc = ours.typed_config['grpc_service'] as { envoy_grpc?: { cluster_name?: string } } | undefined;
  if (grpc?.envoy_grpc?.cluster_name !== cluster) problems.push(`cluster ${grpc?.envoy_grpc?.cluster_name}, expected ${cluster}`);
  delete ours.typed_config['grpc_service'];
  delete theirs.typed_config['grpc_service'];
  if (!isDeepStrictEqual(ours, theirs)) problems.push(`filter differs from envoy/gateway.yaml's: ${JSON.stringify(ours)} vs ${JSON.stringify(theirs)}`);
  return problems;
}

/** What is wrong with Envoy Gateway's EnvoyExtensionPolicy for the outcome records (none: []). */
function extensionPolicyProblems(p: Obj, service: { name: string; port: number }): string[] {
  const problems: string[] = [];
  const procs = p.spec['extProc'] as Record<string, unknown>[];
  if (procs.length !== 1) return [`${procs.length} extProc entries, expected 1`];
  const e = procs[0]!;
  if (e['shadowMode'] !== true) problems.push('not observation only (shadowMode)');
  if (e['failOpen'] !== true) problems.push('not failing open (failOpen)');
  const mode = e['processingMode'] as { request?: unknown; response?: { body?: string; attributes?: string[] } } | undefined;
  if (mode?.request !== undefined) problems.push('sends the request (processingMode.request)');
  if (mode?.response?.body !== 'Streamed') problems.push(`response body ${mode?.response?.body}, expected Streamed`);
  const gateway = gatewayFilters().extProc.typed_config;
  if (JSON.stringify(mode?.response?.attributes) !== JSON.stringify(gateway['response_attributes'])) problems.push('response attributes differ from envoy/gateway.yaml');
  const namespaces = (e['metadata'] as { accessibleNamespaces?: string[] } | undefined)?.accessibleNamespaces;
  if (JSON.stringify(namespaces) !== JSON.stringify([EXT_AUTHZ])) problems.push(`metadata namespaces ${JSON.stringify(namespaces)}`);
  const ref = (e['backendRefs'] as { name: string; port: number }[])[0];
  if (ref?.name !== service.name || ref.port !== service.port) problems.push(`backend ${JSON.stringify(ref)}`);
  return problems;
}

describe('outcome records in the mesh overlays', () => {
  it('envoy/gateway.yaml, the reference: ext_proc right after ext_authz, observation only, failing open', () => {
    const { before, extProc } = gatewayFilters();
    expect(before).toBe(EXT_AUTHZ);
    expect(extProc.typed_config).toMatchObject({
      observability_mode: true,
      failure_mode_allow: true,
      processing_mode: { request_header_mode: 'SKIP', response_body_mode: 'STREAMED' },
    });
  });

  it('Envoy Gateway: an EnvoyExtensionPolicy on the Gateway the SecurityPolicy targets, streaming responses to the llm-authz Service', () => {
    const objs = build('overlays/envoy-gateway');
    const policy = objs.find((o) => o.kind === 'EnvoyExtensionPolicy');
    const security = objs.find((o) => o.kind === 'SecurityPolicy');
    const svc = objs.find((o) => o.kind === 'Service' && o.metadata.name === 'llm-authz');
    expect(policy && security && svc).toBeTruthy();
    expect(policy!.spec['targetRefs']).toEqual(security!.spec['targetRefs']);
    const grpc = (security!.spec['extAuth'] as { grpc: { backendRefs: { name: string; port: number }[] } }).grpc.backendRefs[0]!;
    expect((svc!.spec['ports'] as { port: number }[]).map((p) => p.port)).toContain(grpc.port);
    expect(extensionPolicyProblems(policy!, grpc)).toEqual([]);
  });

  it('Istio shared: an EnvoyFilter on the egress gateway, after the CUSTOM ext_authz, pointed at the llm-authz Service', () => {
    const objs = build('overlays/istio-shared');
    const filter = objs.find((o) => o.kind === 'EnvoyFilter');
    const policy = objs.find((o) => o.kind === 'AuthorizationPolicy');
    const svc = objs.find((o) => o.kind === 'Service' && o.metadata.name === 'llm-authz');
    expect(filter && policy && svc).toBeTruthy();
    expect(filter!.metadata.namespace).toBe(policy!.metadata.namespace);
    expect(filter!.spec['workloadSelector']).toEqual({ labels: (policy!.spec['selector'] as { matchLabels: unknown }).matchLabels });
    const port = (svc!.spec['ports'] as { name: string; port: number }[]).find((p) => p.name === 'grpc')?.port;
    expect(envoyFilterProblems(filter!, 'GATEWAY', `outbound|${port}||${svc!.metadata.name}.${svc!.metadata.namespace}.svc.cluster.local`)).toEqual([]);
  });

  it("Istio per pod: an EnvoyFilter on the inbound listener of the pods the AuthorizationPolicy selects, pointed at the pod's own llm-authz", () => {
    const objs = build('overlays/istio-per-pod');
    const filter = objs.find((o) => o.kind === 'EnvoyFilter');
    const policy = objs.find((o) => o.kind === 'AuthorizationPolicy');
    const entry = objs.find((o) => o.kind === 'ServiceEntry');
    expect(filter && policy && entry).toBeTruthy();
    expect(filter!.spec['workloadSelector']).toEqual({ labels: (policy!.spec['selector'] as { matchLabels: unknown }).matchLabels });
    const host = (entry!.spec['hosts'] as string[])[0];
    expect(envoyFilterProblems(filter!, 'SIDECAR_INBOUND', `outbound|${PORTS.authzGrpc}||${host}`)).toEqual([]);
  });

  it('the checks fail on broken copies', () => {
    const istio = build('overlays/istio-shared').find((o) => o.kind === 'EnvoyFilter')!;
    const cluster = 'outbound|9001||llm-authz.llm-authz.svc.cluster.local';
    const patch = (o: Obj): { match: Record<string, unknown>; patch: { operation: string; value: Filter } } =>
      (o.spec['configPatches'] as { match: Record<string, unknown>; patch: { operation: string; value: Filter } }[])[0]!;
    const failClosed = structuredClone(istio);
    patch(failClosed).patch.value.typed_config['failure_mode_allow'] = false;
    expect(envoyFilterProblems(failClosed, 'GATEWAY', cluster).join()).toMatch(/differs from envoy\/gateway\.yaml/);
    const before = structuredClone(istio);
    patch(before).patch.operation = 'INSERT_BEFORE';
    expect(envoyFilterProblems(before, 'GATEWAY', cluster).join()).toMatch(/not inserted right after/);
    expect(envoyFilterProblems(istio, 'SIDECAR_INBOUND', cluster).join()).toMatch(/context GATEWAY/);
    expect(envoyFilterProblems(istio, 'GATEWAY', 'outbound|9001||elsewhere').join()).toMatch(/cluster/);

    const eg = build('overlays/envoy-gateway').find((o) => o.kind === 'EnvoyExtensionPolicy')!;
    const service = { name: 'llm-authz', port: 9001 };
    const entry = (o: Obj): Record<string, unknown> => (o.spec['extProc'] as Record<string, unknown>[])[0]!;
    const waits = structuredClone(eg);
    entry(waits)['shadowMode'] = false;
    expect(extensionPolicyProblems(waits, service)).toEqual(['not observation only (shadowMode)']);
    const closed = structuredClone(eg);
    delete entry(closed)['failOpen'];
    expect(extensionPolicyProblems(closed, service)).toEqual(['not failing open (failOpen)']);
    const noJoin = structuredClone(eg);
    delete entry(noJoin)['metadata'];
    expect(extensionPolicyProblems(noJoin, service).join()).toMatch(/metadata namespaces/);
  });
});
