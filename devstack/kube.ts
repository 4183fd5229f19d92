/**
 * A Kubernetes control plane without a kubelet (what controller-runtime's envtest runs): etcd and
 * kube-apiserver on free loopback ports, certificates made with openssl, an admin kubeconfig
 * (client certificate in group system:masters), and kubectl bound to it. Pods are stored but
 * never run; everything the API server itself does is real: schema and CRD validation,
 * admission (mutating webhooks over HTTPS, PodSecurity), defaulting.
 *
 * A throwaway control plane: stop() kills both processes (a graceful stop takes about 5 s and
 * keeps nothing worth keeping).
 */
import { spawn } from 'node:child_process';
import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { request } from 'node:https';
import path from 'node:path';
import { freePort, waitFor } from './ports.ts';
import { exitedWhileStarting, retryWhenPortTaken, startChild, type Child } from './process.ts';
import { kubeBin } from './kube-tools.ts';
import { createCa, ecKey, publicKey, type Ca, type IssuedCert } from './pki.ts';

export interface KubectlResult {
  readonly code: number;
  readonly stdout: string;
  readonly stderr: string;
}

export interface KubectlOptions {
  /** Written to kubectl's stdin (e.g. for `-f -`). */
  readonly input?: string;
  /** Killed after this long (default 60 s). */
  readonly timeoutMs?: number;
}

export interface KubeControlPlane {
  /** https://127.0.0.1:PORT */
  readonly server: string;
  readonly kubeconfig: string;
  readonly workDir: string;
  /** The CA of the API server's serving certificate and of its client certificates. */
  readonly ca: Ca;
  /** Runs kubectl against this API server; resolves whatever its exit code. */
  run(args: readonly string[], opts?: KubectlOptions): Promise<KubectlResult>;
  /** Runs kubectl and returns its stdout; a non-zero exit is an error carrying kubectl's stderr. */
  kubectl(args: readonly string[], opts?: KubectlOptions): Promise<string>;
  /** An object as the API server stores it (`kubectl get -o json`). */
  getJson<T = Record<string, unknown>>(args: readonly string[]): Promise<T>;
  stop(): Promise<void>;
}

const IN_USE = 'address already in use';

export async function startKube(opts: { workDir: string }): Promise<KubeControlPlane> {
  const dir = opts.workDir;
  mkdirSync(dir, { recursive: true });
  const ca = createCa(path.join(dir, 'pki'), 'ca', 'kube test CA');
  const serving = ca.issue('apiserver', '/CN=kube-apiserver', [
    'subjectAltName=IP:127.0.0.1,DNS:localhost,DNS:kubernetes,DNS:kubernetes.default,DNS:kubernetes.default.svc',
    'extendedKeyUsage=serverAuth',
    'keyUsage=critical,digitalSignature',
  ]);
  const admin = ca.issue('admin', '/CN=admin/O=system:masters', ['extendedKeyUsage=clientAuth', 'keyUsage=critical,digitalSignature']);
  const saKey = { key: ecKey(ca.dir, 'service-account'), pub: publicKey(ca.dir, 'service-account') };

  const etcd = await retryWhenPortTaken((attempt) => startEtcd(dir, attempt));
  let apiserver: { child: Child; port: number };
  try {
    apiserver = await retryWhenPortTaken((attempt) => startApiserver(dir, attempt, etcd.url, ca, serving, admin, saKey));
  } catch (err) {
    await etcd.child.stop('SIGKILL');
    throw err;
  }
  const server = `https://127.0.0.1:${apiserver.port}`;
  const kubeconfig = path.join(dir, 'kubeconfig');
  writeFileSync(kubeconfig, kubeconfigText(server, ca.cert, admin));

  const run = (args: readonly string[], o: KubectlOptions = {}): Promise<KubectlResult> => runKubectl(kubeconfig, args, o);
  const kubectl = async (args: readonly string[], o: KubectlOptions = {}): Promise<string> => {
    const r = await run(args, o);
    if (r.code !== 0) throw new Error(`kubectl ${args.join(' ')} exited ${r.code}: ${r.stderr.trim()}`);
    return r.stdout;
  };
  return {
    server,
    kubeconfig,
    workDir: dir,
    ca,
    run,
    kubectl,
    async getJson<T>(args: readonly string[]): Promise<T> {
      return JSON.parse(await kubectl(['get', ...args, '-o', 'json'])) as T;
    },
    async stop() {
      await apiserver.child.stop('SIGKILL');
      await etcd.child.stop('SIGKILL');
      // The logs stay; etcd's data (a 64 MB preallocated WAL) goes.
      rmSync(etcd.dataDir, { recursive: true, force: true });
    },
  };
}

async function startEtcd(dir: string, attempt: number): Promise<{ child: Child; url: string; dataDir: string }> {
  const client = await freePort();
  const peer = await freePort();
  const name = `etcd${attempt > 1 ? `-${attempt}` : ''}`;
  const url = `http://127.0.0.1:${client}`;
  const dataDir = path.join(dir, `${name}-data`);
  const child = startChild(
    kubeBin('etcd'),
    [
      '--name',
      'default',
      '--data-dir',
      dataDir,
      '--listen-client-urls',
      url,
      '--advertise-client-urls',
      url,
      '--listen-peer-urls',
      `http://127.0.0.1:${peer}`,
      '--initial-advertise-peer-urls',
      `http://127.0.0.1:${peer}`,
      '--initial-cluster',
      `default=http://127.0.0.1:${peer}`,
      // A test store: nothing to keep across a crash, and fsync is most of etcd's write latency.
      '--unsafe-no-fsync',
      '--log-level',
      'warn',
    ],
    { logFile: path.join(dir, `${name}.log`) },
  );
  const up = await waitFor(
    'etcd to be healthy',
    async () => {
      if (child.proc.exitCode !== null || child.proc.signalCode !== null) return 'exited' as const;
      const res = await fetch(`${url}/health`).catch(() => undefined);
      return res?.status === 200 ? ('up' as const) : undefined;
    },
    30_000,
    100,
  ).catch(async (err: unknown) => {
    await child.stop('SIGKILL');
    throw err;
  });
  if (up === 'exited') throw await exitedWhileStarting(child, 'etcd', IN_USE);
  return { child, url, dataDir };
}

async function startApiserver(
  dir: string,
  attempt: number,
  etcdUrl: string,
  ca: Ca,
  serving: IssuedCert,
  admin: IssuedCert,
  saKey: { key: string; pub: string },
): Promise<{ child: Child; port: number }> {
  const port = await freePort();
  const name = `kube-apiserver${attempt > 1 ? `-${attempt}` : ''}`;
  const child = startChild(
    kubeBin('kube-apiserver'),
    [
      `--etcd-servers=${etcdUrl}`,
      '--bind-address=127.0.0.1',
      '--advertise-address=127.0.0.1',
      `--secure-port=${port}`,
      `--cert-dir=${path.join(dir, 'apiserver-certs')}`,
      `--tls-cert-file=${serving.cert}`,
      `--tls-private-key-file=${serving.key}`,
      `--client-ca-file=${ca.cert}`,
      '--service-account-issuer=https://kubernetes.default.svc.cluster.local',
      `--service-account-key-file=${saKey.pub}`,
      `--service-account-signing-key-file=${saKey.key}`,
      '--service-cluster-ip-range=10.96.0.0/16',
      '--authorization-mode=RBAC',
      // No controller-manager creates service accounts: the ServiceAccount admission plugin
      // would refuse every pod (its 'default' account never appears).
      '--disable-admission-plugins=ServiceAccount',
      // Without it, v1.37 refuses 127.0.0.1 as the advertise address (no endpoints to reconcile here).
      '--endpoint-reconciler-type=none',
      '--profiling=false',
    ],
    { logFile: path.join(dir, `${name}.log`) },
  );
  const get = (p: string): Promise<number> => httpsStatus(port, p, ca.cert, admin);
  const up = await waitFor(
    'kube-apiserver to be ready',
    async () => {
      if (child.proc.exitCode !== null || child.proc.signalCode !== null) return 'exited' as const;
      // /readyz, then the 'default' namespace that the API server's bootstrap controller creates.
      return (await get('/readyz').catch(() => 0)) === 200 && (await get('/api/v1/namespaces/default').catch(() => 0)) === 200 ? ('up' as const) : undefined;
    },
    60_000,
    200,
  ).catch(async (err: unknown) => {
    await child.stop('SIGKILL');
    throw new Error(`${err instanceof Error ? err.message : String(err)}; log: ${child.logFile}`);
  });
  if (up === 'exited') throw await exitedWhileStarting(child, 'kube-apiserver', IN_USE);
  return { child, port };
}

function httpsStatus(port: number, p: string, caFile: string, client: IssuedCert): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = request(
      { host: '127.0.0.1', port, path: p, method: 'GET', ca: readFileSync(caFile), cert: readFileSync(client.cert), key: readFileSync(client.key), timeout: 2000 },
      (res) => {
        res.resume();
        resolve(res.statusCode ?? 0);
      },
    );
    req.on('timeout', () => req.destroy(new Error('timeout')));
    req.on('error', reject);
    req.end();
  });
}

function kubeconfigText(server: string, caFile: string, admin: IssuedCert): string {
  return `apiVersion: v1
kind: Config
clusters:
- name: test
  cluster: { server: "${server}", certificate-authority: "${caFile}" }
users:
- name: admin
  user: { client-certificate: "${admin.cert}", client-key: "${admin.key}" }
contexts:
- name: test
  context: { cluster: test, user: admin }
current-context: test
`;
}

function runKubectl(kubeconfig: string, args: readonly string[], opts: KubectlOptions): Promise<KubectlResult> {
  return new Promise((resolve, reject) => {
    const proc = spawn(kubeBin('kubectl'), ['--kubeconfig', kubeconfig, ...args], { stdio: ['pipe', 'pipe', 'pipe'] });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    proc.stdout.on('data', (b: Buffer) => out.push(b));
    proc.stderr.on('data', (b: Buffer) => err.push(b));
    const timeoutMs = opts.timeoutMs ?? 60_000;
    const t = setTimeout(() => proc.kill('SIGKILL'), timeoutMs);
    proc.on('error', (e) => {
      clearTimeout(t);
      reject(e);
    });
    proc.on('close', (code, signal) => {
      clearTimeout(t);
      const stderr = Buffer.concat(err).toString('utf8');
      resolve({ code: code ?? -1, stdout: Buffer.concat(out).toString('utf8'), stderr: signal === 'SIGKILL' ? `${stderr}\n(kubectl killed after ${timeoutMs} ms)` : stderr });
    });
    // A kubectl that reads no stdin may exit before the write: its EPIPE is no failure.
    proc.stdin.on('error', () => undefined);
    proc.stdin.end(opts.input ?? '');
  });
}
