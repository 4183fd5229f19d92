/**
 * The llm-authz configs shipped for Kubernetes load with the shipped policy set, with each path
 * they name put where its volume would put it (stand-ins for the Secrets), and decide as the
 * example policies decide: a tool-scoped key sending an OpenAI Responses request with a saved
 * prompt is denied (tool_not_allowed), the same key's plain request is allowed. The manifests
 * agree with the injector's constants, the package version and the pinned Envoy.
 */
import { mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { parse, parseAllDocuments } from 'yaml';
import type { AuditRecord } from '../../src/audit/record.ts';
import { parseConfigText } from '../../src/config/load.ts';
import { buildRuntime, type Runtime } from '../../src/pipeline/runtime.ts';
import { checkRequest } from '../../devstack/grpc-client.ts';
import { ROOT } from '../../devstack/tools.ts';
import { hashApiKey } from '../../src/identity/api-key.ts';
import { writeKeyStoreFile } from '../../src/identity/key-store.ts';
import { DEFAULT_ENVOY_IMAGE } from '../../src/cli/inject-webhook.ts';
import { MOUNTS, PORTS } from '../../src/inject/constants.ts';
import { authzContainer } from '../../src/inject/sidecars.ts';
import { createCheck } from '../../src/pipeline/check.ts';
import { buildResource } from '../../src/telemetry/otel.ts';
import { SERVICE_VERSION } from '../../src/telemetry/version.ts';

const K8S = path.join(ROOT, 'deploy/kubernetes');
const CONFIGS = ['deployment/llm-authz.yaml', 'overlays/gateway/llm-authz.yaml', 'overlays/sidecar/llm-authz.yaml'];
const TOOL_KEY = 'lla_k8sunit1_abcdefghijklmnopqrstuvwx';
const POLICIES = (parse(readFileSync(path.join(K8S, 'base/policies.yaml'), 'utf8')) as { data: Record<string, string> }).data;

type Doc = { kind: string; metadata: { name: string }; spec: any };
const docs = (file: string): Doc[] => parseAllDocuments(readFileSync(path.join(K8S, file), 'utf8')).map((d) => d.toJS() as Doc);

const runtimes: Runtime[] = [];
afterAll(async () => {
  for (const rt of runtimes) await rt.close();
});

/** The config with every absolute path under tmp, and what the volumes would hold there. */
function materialise(file: string): { rt: Runtime; text: string } {
  const tmp = mkdtempSync(path.join(os.tmpdir(), 'llm-authz-k8s-'));
  const text = readFileSync(path.join(K8S, file), 'utf8');
  const local = text.replace(/\/(etc|var)\/[\w./-]+/g, (p) => path.join(tmp, p));
  const cfg = parseConfigText(local, file);
  for (const c of Object.values(cfg.credentials ?? {})) {
    if ('file' in c && typeof c.file === 'string') {
      mkdirSync(path.dirname(c.file), { recursive: true });
      writeFileSync(c.file, `sk-k8s-unit-${path.basename(c.file)}\n`);
    }
  }
  const store = cfg.identity.key_store!.file;
  mkdirSync(path.dirname(store), { recursive: true });
  writeKeyStoreFile(store, {
    version: 1,
    keys: [
      {
        id: 'k8sunit1',
        hash: hashApiKey(TOOL_KEY),
        workload: 'spiffe://demo.example/ns/apps/sa/chat-app',
        models: ['gpt-4o-mini'],
        tools: ['search_docs'],
        created_at: '2026-01-01T00:00:00Z',
        revoked: false,
      },
    ],
  });
  const dir = cfg.policy!.dir!;
  mkdirSync(dir, { recursive: true });
  for (const [f, t] of Object.entries(POLICIES)) writeFileSync(path.join(dir, f), t);
  const rt = buildRuntime(cfg, { source: file, version: 'k8s', baseDir: tmp }, { watchPolicies: false });
  runtimes.push(rt);
  return { rt, text };
}

async function decide(rt: Runtime, req: Record<string, unknown>): Promise<AuditRecord> {
  const records: AuditRecord[] = [];
  const check = createCheck(() => rt, { onDecision: (r) => records.push(r), onError: () => undefined });
  await check(req);
  return records[0]!;
}

const post = (p: string, body: unknown): Record<string, unknown> =>
  checkRequest({ path: p, headers: { authorization: `Bearer ${TOOL_KEY}`, 'content-type': 'application/json' }, body: JSON.stringify(body) });

describe.each(CONFIGS)('%s with the shipped policies', (file) => {
  it('loads, and decides as the example policies do', async () => {
    const { rt } = materialise(file);
    expect(rt.policy?.status().rules).toBeGreaterThan(0);
    const savedPrompt = await decide(rt, post('/v1/responses', { model: 'gpt-4o-mini', prompt: { id: 'pmpt_123' }, input: 'hello' }));
    expect(savedPrompt).toMatchObject({ 'decision.effect': 'deny', 'decision.reason': 'tool_not_allowed' });
    const plain = await decide(rt, post('/v1/chat/completions', { model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'hello' }] }));
    expect(plain).toMatchObject({ 'decision.effect': 'allow', 'identity.workload': 'spiffe://demo.example/ns/apps/sa/chat-app' });
  });
});

describe('manifests and code agree', () => {
  it('the sidecar config reads what the injector mounts, where it mounts it', () => {
    const cfg = parseConfigText(readFileSync(path.join(K8S, 'overlays/sidecar/llm-authz.yaml'), 'utf8'), 'sidecar');
    expect(cfg.server.listen).toBe(`127.0.0.1:${PORTS.authzGrpc}`);
    expect(cfg.policy?.dir).toBe(MOUNTS.policies);
    expect(path.dirname(cfg.identity.key_store!.file)).toBe(MOUNTS.keyStore);
    for (const c of Object.values(cfg.credentials ?? {})) expect('file' in c && path.dirname(String(c.file))).toBe(MOUNTS.providerKeys);
  });

  it('the Deployment mounts every path its config names, and the gateway mounts its TLS files', () => {
    const pod = docs('deployment/deployment.yaml')[0]!.spec.template.spec;
    const mounts = (pod.containers[0].volumeMounts as { mountPath: string }[]).map((m) => m.mountPath);
    const tlsMounts = (docs('overlays/gateway/deployment-tls.yaml')[0]!.spec.template.spec.containers[0].volumeMounts as { mountPath: string }[]).map((m) => m.mountPath);
    for (const [file, extra] of [
      ['deployment/llm-authz.yaml', []],
      ['overlays/gateway/llm-authz.yaml', tlsMounts],
    ] as const) {
      const paths = readFileSync(path.join(K8S, file), 'utf8').match(/\/(etc|var)\/[\w./-]+/g) ?? [];
      expect(paths.length).toBeGreaterThan(3);
      for (const p of paths)
        expect(
          [...mounts, ...extra].some((m) => p === m || p.startsWith(`${m}/`)),
          `${file}: ${p}`,
        ).toBe(true);
    }
    const args = pod.containers[0].args as string[];
    expect(args[args.indexOf('--config') + 1]).toBe('/etc/llm-authz/config/llm-authz.yaml');
  });

  it('the downward API fills the variables the telemetry resource reads', () => {
    const container = docs('deployment/deployment.yaml')[0]!.spec.template.spec.containers[0];
    const fields: Record<string, string> = { 'metadata.name': 'pod-a', 'metadata.namespace': 'ns-a', 'spec.nodeName': 'node-a', 'metadata.uid': 'uid-a' };
    const env: Record<string, string> = {};
    for (const e of container.env as { name: string; valueFrom?: { fieldRef?: { fieldPath: string } } }[]) {
      const f = e.valueFrom?.fieldRef?.fieldPath;
      if (f !== undefined && fields[f] !== undefined) env[e.name] = fields[f];
    }
    expect(buildResource('llm-authz', '1', env).attributes).toMatchObject({
      'k8s.pod.name': 'pod-a',
      'k8s.namespace.name': 'ns-a',
      'k8s.node.name': 'node-a',
      'k8s.pod.uid': 'uid-a',
    });
  });

  it('the gateway Deployment runs llm-authz with the injected sidecar\'s command (its heap flags; README "Sizing")', () => {
    const sidecar = authzContainer({ authzImage: 'llm-authz:test', envoyImage: DEFAULT_ENVOY_IMAGE, defaultMode: 'envoy', version: 'test' });
    const gateway = docs('deployment/deployment.yaml')[0]!.spec.template.spec.containers[0];
    expect(sidecar['command']).toEqual(expect.arrayContaining(['--max-semi-space-size=8', '--max-old-space-size=96']));
    expect(gateway.command).toEqual(sidecar['command']);
  });

  it('images carry the package version and the pinned Envoy', () => {
    const envoyVersion = /^ENVOY_VERSION=(\S+)/m.exec(readFileSync(path.join(ROOT, 'scripts/versions.env'), 'utf8'))?.[1];
    expect(DEFAULT_ENVOY_IMAGE).toBe(`envoyproxy/envoy:v${envoyVersion}`);
    expect(docs('deployment/deployment.yaml')[0]!.spec.template.spec.containers[0].image).toBe(`llm-authz:${SERVICE_VERSION}`);
    const injector = docs('overlays/injector/deployment.yaml')[0]!.spec.template.spec.containers[0];
    expect(injector.image).toBe(`llm-authz:${SERVICE_VERSION}`);
    expect(injector.args).toEqual(expect.arrayContaining([`--image=llm-authz:${SERVICE_VERSION}`, `--envoy-image=${DEFAULT_ENVOY_IMAGE}`]));
  });
});
