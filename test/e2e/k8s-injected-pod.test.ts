/**
 * The injected pod actually works: the Envoy bootstrap and the llm-authz config an injected pod
 * would mount are read from the objects stored in a real API server (the pod as the webhook
 * patched it, the ConfigMaps of deploy/kubernetes/overlays/sidecar, the Secrets), laid out as the
 * kubelet lays out volumes, with the mount paths mapped to a temp folder and the pod's ports to
 * free loopback ports; the real Envoy and llm-authz run on exactly those files, and the official
 * `openai` SDK, configured only by the injected OPENAI_BASE_URL, gets an allow and a deny.
 * Then ConfigMap and Secret updates, applied as the kubelet applies them (a new timestamped
 * folder, then an atomic swap of the ..data symlink), reach the running processes without a
 * restart: provider keys, the key store, the policies.
 */
import OpenAI from 'openai';
import { execFileSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { kubeletVolume, type KubeletVolume } from '../../devstack/kubelet-volume.ts';
import type { KubeControlPlane } from '../../devstack/kube.ts';
import { createCa, loopbackServerCert } from '../../devstack/pki.ts';
import { envoyBin, cliEntry, ROOT } from '../../devstack/tools.ts';
import { startMockProvider, type MockProvider } from '../../devstack/mock-provider.ts';
import { freePort, waitFor } from '../../devstack/ports.ts';
import { startChild, type Child } from '../../devstack/process.ts';
import { CONTAINERS, INJECT_LABEL, PORTS } from '../../src/inject/constants.ts';
import { SIDECAR_ENVOY_PARAMS } from '../../devstack/envoy-variants.ts';
import { useKube } from '../helpers/kube.ts';
import { registerWebhook, startInjector, type InjectorProcess } from '../helpers/injector.ts';
import { newWorkDir } from '../helpers/stack.ts';
import { rememberSecret } from '../helpers/suite-secrets.ts';
import { otlpParams } from '../helpers/telemetry.ts';

interface Container {
  name: string;
  args?: string[];
  env?: { name: string; value?: string }[];
  volumeMounts?: { name: string; mountPath: string }[];
}
interface StoredPod {
  spec: { initContainers: Container[]; containers: Container[]; volumes: { name: string; configMap?: { name: string }; secret?: { secretName: string } }[] };
}

const PROVIDER_KEYS: Record<string, string> = {
  openai: 'sk-k8s-pod-openai-provider-key-1',
  anthropic: 'sk-ant-k8s-pod-provider-key-1',
  'openai-batch': 'sk-k8s-pod-openai-batch-key-1',
  'openai-team': 'sk-k8s-pod-openai-team-key-1',
};
const ROTATED_OPENAI_KEY = 'sk-k8s-pod-openai-provider-key-2';
for (const [k, v] of Object.entries({ ...PROVIDER_KEYS, rotated: ROTATED_OPENAI_KEY })) rememberSecret(`k8s pod provider key ${k}`, v);

const CHAT_WORKLOAD = 'spiffe://demo.example/ns/apps/sa/chat-app';

/** `llm-authz keys create` into a store file; returns the key it prints once. */
function createKey(store: string, models: string): string {
  const out = execFileSync(process.execPath, [cliEntry(), 'keys', 'create', '--store', store, '--workload', CHAT_WORKLOAD, '--models', models], { encoding: 'utf8' });
  const key = /^key: (lla_\S+)$/m.exec(out)?.[1];
  if (key === undefined) throw new Error('keys create printed no key');
  rememberSecret('k8s pod api key', key);
  return key;
}

/** Replaces every `from` (it must occur) in text. */
function mapAll(text: string, from: string, to: string, what: string): string {
  if (!text.includes(from)) throw new Error(`${what}: '${from}' not found`);
  return text.replaceAll(from, to);
}

describe('an injected pod, run from what the API server stores', () => {
  const kube = useKube('k8s-injected-pod');
  const work = newWorkDir('k8s-injected-pod');
  const pki = createCa(path.join(work, 'pki'), 'ca', 'pod test CA');
  const providerCert = loopbackServerCert(pki, 'providers');
  const store = path.join(work, 'keys.json');
  let injector: InjectorProcess;
  let pod: StoredPod;
  const volumes = new Map<string, KubeletVolume>();
  const mocks: Record<string, MockProvider> = {};
  let authz: Child;
  let envoy: Child;
  let baseUrl = '';
  let readyPort = 0;
  let chatKey = '';

  const authzContainer = (): Container => pod.spec.initContainers.find((c) => c.name === CONTAINERS.authz)!;
  const envoyContainer = (): Container => pod.spec.initContainers.find((c) => c.name === CONTAINERS.envoy)!;
  const mountDir = (volume: string): string => path.join(work, 'volumes', volume);

  /** A volume's files, from the object the API server stores (Secret data decoded). */
  async function volumeFiles(k: KubeControlPlane, volume: string): Promise<Record<string, Buffer>> {
    const v = pod.spec.volumes.find((x) => x.name === volume)!;
    if (v.configMap) {
      const cm = await k.getJson<{ data: Record<string, string> }>(['configmap', '-n', 'apps', v.configMap.name]);
      return Object.fromEntries(Object.entries(cm.data).map(([f, t]) => [f, Buffer.from(t)]));
    }
    const s = await k.getJson<{ data: Record<string, string> }>(['secret', '-n', 'apps', v.secret!.secretName]);
    return Object.fromEntries(Object.entries(s.data).map(([f, b]) => [f, Buffer.from(b, 'base64')]));
  }

  /** What the kubelet does after an object changed: the new files, swapped in atomically. */
  async function kubeletSync(volume: string): Promise<void> {
    volumes.get(volume)!.update(await volumeFiles(kube(), volume));
  }

  beforeAll(async () => {
    const k = kube();
    const webhookCert = loopbackServerCert(pki, 'webhook');
    injector = await startInjector({ workDir: work, cert: webhookCert.cert, key: webhookCert.key });
    await registerWebhook(k, injector.url, pki.cert);
    await k.kubectl(['create', 'namespace', 'apps']);
    await k.kubectl(['label', 'namespace', 'apps', `${INJECT_LABEL}=enabled`]);
    // What an operator applies into the app namespace: the sidecar overlay and two Secrets.
    await k.kubectl(['apply', '-n', 'apps', '-k', path.join(ROOT, 'deploy/kubernetes/overlays/sidecar')]);
    await k.kubectl(['create', 'secret', 'generic', 'llm-provider-keys', '-n', 'apps', ...Object.entries(PROVIDER_KEYS).map(([f, v]) => `--from-literal=${f}=${v}`)]);
    chatKey = createKey(store, 'gpt-4o-mini');
    await k.kubectl(['create', 'secret', 'generic', 'llm-authz-keys', '-n', 'apps', `--from-file=keys.json=${store}`]);
    await k.kubectl(['create', '-n', 'apps', '-f', '-'], {
      input: JSON.stringify({ apiVersion: 'v1', kind: 'Pod', metadata: { name: 'chat' }, spec: { containers: [{ name: 'app', image: 'example.com/chat-app:1.0' }] } }),
    });
    pod = await k.getJson<StoredPod>(['pod', '-n', 'apps', 'chat']);

    // The volumes, as the kubelet would lay them out.
    for (const v of pod.spec.volumes) volumes.set(v.name, kubeletVolume(mountDir(v.name), await volumeFiles(k, v.name)));
    const mounts = [...authzContainer().volumeMounts!, ...envoyContainer().volumeMounts!].map((m) => ({ from: m.mountPath, to: mountDir(m.name) }));
    const remapPaths = (text: string, what: string): string => {
      let out = text;
      for (const m of mounts) if (out.includes(m.from)) out = out.replaceAll(m.from, m.to);
      const left = /(^|[\s"'])(\/(etc|var)\/[^\s"']*)/m.exec(out);
      if (left) throw new Error(`${what}: ${left[2]} is under no volume mount`);
      return out;
    };

    // llm-authz: its injected args, its config file from the config volume, paths and ports mapped.
    const args = authzContainer().args!;
    const configArg = args[args.indexOf('--config') + 1]!;
    const configFile = path.join(work, 'llm-authz.yaml');
    writeFileSync(configFile, remapPaths(readFileSync(remapPaths(configArg, 'args'), 'utf8'), 'llm-authz config'));
    const healthPort = await freePort();
    const authzArgs = args.map((a) =>
      a === configArg ? configFile : a === `127.0.0.1:${PORTS.authzGrpc}` ? '127.0.0.1:0' : a === `0.0.0.0:${PORTS.authzHealth}` ? `127.0.0.1:${healthPort}` : a,
    );
    expect(authzArgs.join(' ')).not.toMatch(new RegExp(`${PORTS.authzGrpc}|${PORTS.authzHealth}|/etc/`));
    // Its command: the image's Node with the injected V8 flags (Node refuses a flag it does not know).
    const command = (authzContainer() as { command?: string[] }).command ?? [];
    expect(command[0]).toBe('node');
    expect(command.at(-1)).toBe('bin/llm-authz.js');
    authz = startChild(process.execPath, [...command.slice(1, -1), cliEntry(), ...authzArgs], { logFile: path.join(work, 'llm-authz.log') });
    const serving = JSON.parse(await authz.waitForLine('stderr', (l) => l.includes('"llm-authz serving"'))) as { port: number; health_port: number };
    expect(serving.health_port).toBe(healthPort);

    // Envoy: its bootstrap from the envoy-config volume; loopback ports, mock providers over TLS.
    for (const kind of ['openai', 'anthropic', 'gemini', 'azure-openai', 'bedrock', 'vertex-ai'] as const) mocks[kind] = await startMockProvider(kind, '127.0.0.1', providerCert);
    const envoyArgs = envoyContainer().args!;
    const p = SIDECAR_ENVOY_PARAMS;
    // The providers' CA bundle is a file of the Envoy image, not of a volume: the test CA stands in.
    const rawBootstrap = readFileSync(remapPaths(envoyArgs[envoyArgs.indexOf('-c') + 1]!, 'args'), 'utf8');
    let bootstrap = remapPaths(mapAll(rawBootstrap, p.UPSTREAM_CA_PATH, pki.cert, 'provider CA bundle'), 'envoy bootstrap');
    // The container's stdout; a test child's stdout is a socket, which Envoy cannot open by path.
    bootstrap = mapAll(bootstrap, `path: ${p.ACCESS_LOG_PATH}`, `path: ${path.join(work, 'envoy-access.log')}`, 'access log');
    const egressPort = await freePort();
    readyPort = await freePort();
    bootstrap = mapAll(bootstrap, `port_value: ${PORTS.envoyEgress}`, `port_value: ${egressPort}`, 'egress listener');
    bootstrap = mapAll(bootstrap, `port_value: ${PORTS.envoyAdmin}`, `port_value: ${await freePort()}`, 'admin');
    bootstrap = mapAll(bootstrap, `port_value: ${PORTS.envoyReady}`, `port_value: ${readyPort}`, 'ready listener');
    bootstrap = mapAll(bootstrap, `port_value: ${PORTS.authzGrpc}`, `port_value: ${serving.port}`, 'llm-authz');
    bootstrap = mapAll(bootstrap, 'address: 0.0.0.0', 'address: 127.0.0.1', 'all-address listener');
    const providers: [string, number, MockProvider][] = [
      [p.OPENAI_ADDRESS, p.OPENAI_PORT, mocks['openai']!],
      [p.ANTHROPIC_ADDRESS, p.ANTHROPIC_PORT, mocks['anthropic']!],
      [p.GEMINI_ADDRESS, p.GEMINI_PORT, mocks['gemini']!],
      [p.AZURE_OPENAI_ADDRESS, p.AZURE_OPENAI_PORT, mocks['azure-openai']!],
      [p.BEDROCK_ADDRESS, p.BEDROCK_PORT, mocks['bedrock']!],
      [p.VERTEX_AI_ADDRESS, p.VERTEX_AI_PORT, mocks['vertex-ai']!],
    ];
    for (const [host, port, mock] of providers)
      bootstrap = mapAll(bootstrap, `{ address: ${host}, port_value: ${port} }`, `{ address: localhost, port_value: ${mock.port} }`, host);
    const otlp = otlpParams();
    bootstrap = mapAll(bootstrap, `{ address: ${p.OTLP_ADDRESS}, port_value: ${p.OTLP_PORT} }`, `{ address: ${otlp.OTLP_ADDRESS}, port_value: ${otlp.OTLP_PORT} }`, 'otlp');
    const bootstrapFile = path.join(work, 'envoy.yaml');
    writeFileSync(bootstrapFile, bootstrap);
    const mappedEnvoyArgs = envoyArgs.map((a) => (a === envoyArgs[envoyArgs.indexOf('-c') + 1] ? bootstrapFile : a));
    envoy = startChild(envoyBin(), [...mappedEnvoyArgs, '--base-id', String(await freePort()), '--concurrency', '1'], { logFile: path.join(work, 'envoy.log') });

    // The app's SDK base URL: the injected OPENAI_BASE_URL, its port mapped like Envoy's listener.
    const injected = pod.spec.containers[0]!.env!.find((e) => e.name === 'OPENAI_BASE_URL')!.value!;
    baseUrl = mapAll(injected, `:${PORTS.envoyEgress}/`, `:${egressPort}/`, 'OPENAI_BASE_URL');
    await waitFor(
      'the injected Envoy to be ready (its kubelet /ready listener)',
      async () => ((await fetch(`http://127.0.0.1:${readyPort}/ready`).catch(() => undefined))?.status === 200 ? true : undefined),
      30_000,
      100,
    );
  }, 180_000);

  afterAll(async () => {
    await envoy?.stop();
    await authz?.stop();
    await injector?.stop();
    for (const m of Object.values(mocks)) await m.close();
  });

  /** The official SDK, configured only by the injected base URL (in the environment, as in the pod). */
  async function chat(model: string, key = chatKey): Promise<OpenAI.Chat.Completions.ChatCompletion> {
    const saved = process.env['OPENAI_BASE_URL'];
    process.env['OPENAI_BASE_URL'] = baseUrl;
    try {
      const client = new OpenAI({ apiKey: key, maxRetries: 0 });
      expect(client.baseURL).toBe(baseUrl);
      return await client.chat.completions.create({ model, messages: [{ role: 'user', content: 'say hello' }] });
    } finally {
      if (saved === undefined) delete process.env['OPENAI_BASE_URL'];
      else process.env['OPENAI_BASE_URL'] = saved;
    }
  }

  async function status(p: Promise<unknown>): Promise<number> {
    return p.then(
      () => 200,
      (e: unknown) => (e instanceof OpenAI.APIError ? (e.status ?? -1) : Promise.reject(e)),
    );
  }

  it('the kubelet probes would find both sidecars ready', async () => {
    expect((await fetch(`http://127.0.0.1:${readyPort}/ready`)).status).toBe(200);
    expect((await fetch(`http://127.0.0.1:${readyPort}/stats`)).status).toBe(404);
  });

  it('an allowed request reaches the provider with the key from the Secret', async () => {
    const r = await chat('gpt-4o-mini');
    expect(r.choices[0]?.message.content).toBe('Hello from the mock OpenAI provider.');
    expect(mocks['openai']!.requests.at(-1)!.headers['authorization']).toBe(`Bearer ${PROVIDER_KEYS['openai']}`);
  });

  it('a denied request gets the SDK error naming the reason, and reaches no provider', async () => {
    const before = mocks['openai']!.requests.length;
    const err = await chat('gpt-4.1').then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(OpenAI.PermissionDeniedError);
    expect((err as InstanceType<typeof OpenAI.PermissionDeniedError>).code).toBe('model_not_allowed');
    expect(mocks['openai']!.requests.length).toBe(before);
  });

  it('a rotated provider key (Secret update, kubelet-style) is used without a restart', async () => {
    await kube()
      .kubectl([
        'create',
        'secret',
        'generic',
        'llm-provider-keys',
        '-n',
        'apps',
        '--dry-run=client',
        '-o',
        'yaml',
        ...Object.entries({ ...PROVIDER_KEYS, openai: ROTATED_OPENAI_KEY }).map(([f, v]) => `--from-literal=${f}=${v}`),
      ])
      .then((y) => kube().kubectl(['apply', '-f', '-'], { input: y }));
    await kubeletSync('llm-authz-provider-keys');
    await waitFor(
      'the rotated provider key',
      async () => {
        await chat('gpt-4o-mini');
        return mocks['openai']!.requests.at(-1)!.headers['authorization'] === `Bearer ${ROTATED_OPENAI_KEY}` ? true : undefined;
      },
      10_000,
      200,
    );
    expect(authz.proc.exitCode).toBeNull();
  });

  it('a key added to the key store (Secret update, kubelet-style) authenticates without a restart', async () => {
    const second = createKey(store, 'gpt-4o-mini');
    expect(await status(chat('gpt-4o-mini', second))).toBe(401);
    await kube()
      .kubectl(['create', 'secret', 'generic', 'llm-authz-keys', '-n', 'apps', '--dry-run=client', '-o', 'yaml', `--from-file=keys.json=${store}`])
      .then((y) => kube().kubectl(['apply', '-f', '-'], { input: y }));
    await kubeletSync('llm-authz-keys');
    await waitFor('the new key to authenticate', async () => ((await status(chat('gpt-4o-mini', second))) === 200 ? true : undefined), 10_000, 200);
  });

  it('a changed policy ConfigMap (kubelet-style) decides without a restart', async () => {
    const cm = await kube().getJson<{ data: Record<string, string> }>(['configmap', '-n', 'apps', 'llm-authz-policies']);
    const file = Object.keys(cm.data).find((f) => cm.data[f]!.includes('chat-app-models'))!;
    const changed = cm.data[file]!.replace('llm.model in ["gpt-4o-mini", "gpt-4.1-mini"]', 'llm.model in ["gpt-4.1-mini"]');
    expect(changed).not.toBe(cm.data[file]);
    await kube()
      .kubectl([
        'create',
        'configmap',
        'llm-authz-policies',
        '-n',
        'apps',
        '--dry-run=client',
        '-o',
        'yaml',
        ...Object.entries({ ...cm.data, [file]: changed }).map(([f, t]) => `--from-literal=${f}=${t}`),
      ])
      .then((y) => kube().kubectl(['apply', '-f', '-'], { input: y }));
    await kubeletSync('llm-authz-policies');
    await waitFor('the changed policy to deny', async () => ((await status(chat('gpt-4o-mini'))) === 403 ? true : undefined), 10_000, 200);
    expect(authz.proc.exitCode).toBeNull();
  });
});
