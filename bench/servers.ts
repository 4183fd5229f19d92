/** The ext_authz servers under test: the floor, llm-authz, OPA-Envoy (Authorino: bench/authorino.ts). Each on a free loopback port. */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { startChild, type Child } from '../devstack/process.ts';
import { freePort, waitFor } from '../devstack/ports.ts';
import { cliEntry, ROOT, TOOLS_DIR } from '../devstack/tools.ts';
import { createAuthzClient } from '../devstack/grpc-client.ts';
import { createMemoryCgroup, type MemoryCgroup } from './cgroup.ts';
import { type BenchFiles, IMAGE_NODE_FLAGS, prepareBenchFiles, writeBenchFrame } from './setup.ts';

/** OPA-Envoy's name in the results and the report. */
export const OPA_ENVOY = 'OPA-Envoy';

export interface AuthzUnderTest {
  readonly name: string;
  /** The memory cgroup it runs in, when started with a memory limit. */
  readonly memory?: MemoryCgroup;
  readonly port: number;
  readonly pid: number;
  /** How this server needs the benchmark's CheckRequest (Authorino: the body as a string); as built when absent. */
  readonly shape?: (request: Record<string, unknown>) => Record<string, unknown>;
  /** llm-authz: from spawning the process to its "llm-authz serving" line (health SERVING). */
  readonly servingMs?: number;
  stop(): Promise<void>;
}

/** Resolves once the server on `port` answers a Check (any answer). */
export async function ready(port: number): Promise<void> {
  const client = createAuthzClient(`127.0.0.1:${port}`);
  try {
    await waitFor(`a Check answer on port ${port}`, async () => ((await client.check({}, { deadlineMs: 1000 })) ? true : undefined), 30_000, 200);
  } finally {
    client.close();
  }
}

export function wrap(name: string, child: Child, port: number): AuthzUnderTest {
  return {
    name,
    port,
    pid: child.proc.pid ?? -1,
    async stop() {
      await child.stop('SIGTERM', 5000);
    },
  };
}

/** Throws unless the server allows `request` (status 0): a comparison of servers that deny it would be meaningless. */
export async function verifyAllows(server: AuthzUnderTest, request: unknown): Promise<void> {
  const client = createAuthzClient(`127.0.0.1:${server.port}`);
  try {
    const res = await client.check(request);
    const code = (res['status'] as { code?: number } | undefined)?.code ?? 0;
    if (code !== 0) throw new Error(`${server.name} does not allow the benchmark request (status ${code}): the comparison would be meaningless`);
  } finally {
    client.close();
  }
}

export async function startFloor(workDir: string, route?: string): Promise<AuthzUnderTest> {
  const port = await freePort();
  const args = [path.join(ROOT, 'bench/floor.ts'), '--listen', `127.0.0.1:${port}`, ...(route ? ['--route', route] : [])];
  const child = startChild(process.execPath, args, { logFile: path.join(workDir, 'floor.log') });
  await ready(port);
  return wrap('floor', child, port);
}

/**
 * llm-authz, the built CLI. With `memoryLimitMiB`, it runs in a memory cgroup with that limit (as
 * in a Kubernetes pod): a shell moves itself into the cgroup, then execs Node, so Node starts
 * inside it and sizes V8's heap from the limit (Infinity: a cgroup without a limit, for its figures).
 * `node` runs another Node binary than this process's (bench/cgroup-load.ts: a copy not yet in the
 * page cache). Node runs with the image's flags (IMAGE_NODE_FLAGS, deploy/Dockerfile's ENTRYPOINT)
 * unless `nodeFlags` says otherwise (`[]`: Node's defaults); `nodeArgs` come after them.
 */
export async function startLlmAuthz(
  workDir: string,
  config: string,
  env: NodeJS.ProcessEnv = {},
  nodeArgs: readonly string[] = [],
  o: { memoryLimitMiB?: number; node?: string; nodeFlags?: readonly string[] } = {},
): Promise<AuthzUnderTest> {
  const port = await freePort();
  const args = [...(o.nodeFlags ?? IMAGE_NODE_FLAGS), ...nodeArgs, cliEntry(), 'serve', '--config', config, '--listen', `127.0.0.1:${port}`];
  const memory = o.memoryLimitMiB === undefined ? undefined : createMemoryCgroup(`llm-authz-bench-${process.pid}-${port}`, o.memoryLimitMiB * 1048576);
  const node = o.node ?? process.execPath;
  const [cmd, argv] = commandIn(memory, node, args);
  const t0 = performance.now();
  const child = startChild(cmd, argv, { logFile: path.join(workDir, 'llm-authz.log'), env: { ...process.env, ...env } });
  let servingMs: number;
  try {
    await child.waitForLine('stderr', (l) => l.includes('"llm-authz serving"'));
    servingMs = performance.now() - t0;
    await ready(port);
  } catch (err) {
    await child.stop('SIGKILL');
    memory?.remove();
    throw err;
  }
  return withCgroup({ ...wrap('llm-authz', child, port), servingMs }, memory);
}

/** The command that runs `node args` in `memory` (a shell writes its pid to the cgroup, then execs node), or node itself. */
export function commandIn(memory: MemoryCgroup | undefined, node: string, args: readonly string[]): [string, string[]] {
  return memory ? ['/bin/sh', ['-c', 'echo $$ > "$0" && exec "$@"', memory.procsFile, node, ...args]] : [node, [...args]];
}

/** `server` with the cgroup it runs in, if any: stopping it removes the cgroup too. */
export function withCgroup<T extends AuthzUnderTest>(server: T, memory: MemoryCgroup | undefined): T {
  if (memory === undefined) return server;
  return {
    ...server,
    memory,
    async stop() {
      await server.stop();
      memory.remove();
    },
  };
}

export async function startOpa(workDir: string, policyFile: string, dataFile: string): Promise<AuthzUnderTest> {
  const port = await freePort();
  const config = path.join(workDir, 'opa-config.yaml');
  writeFileSync(
    config,
    [
      'plugins:',
      '  envoy_ext_authz_grpc:',
      `    addr: 127.0.0.1:${port}`,
      '    path: llmauthz/allow',
      '    enable-reflection: false',
      'decision_logs:',
      '  console: false',
      '',
    ].join('\n'),
  );
  const child = startChild(
    path.join(TOOLS_DIR, 'bin', 'opa-envoy'),
    [
      'run',
      '--server',
      '--addr',
      `127.0.0.1:${await freePort()}`,
      '--diagnostic-addr',
      `127.0.0.1:${await freePort()}`,
      '--config-file',
      config,
      '--log-level',
      'error',
      policyFile,
      dataFile,
    ],
    { logFile: path.join(workDir, 'opa.log') },
  );
  await ready(port);
  return wrap(OPA_ENVOY, child, port);
}

/** The local OTLP/gRPC sink that llm-authz and Envoy export spans to. */
export async function startOtlpSink(workDir: string): Promise<{ port: number; pid: number; stop(): Promise<void> }> {
  const child = startChild(process.execPath, [path.join(ROOT, 'bench/otlp-sink.ts')], { logFile: path.join(workDir, 'otlp-sink.log') });
  const line = await child.waitForLine('stdout', (l) => l.startsWith('{"port"'));
  return {
    port: (JSON.parse(line) as { port: number }).port,
    pid: child.proc.pid ?? 0,
    async stop() {
      await child.stop('SIGTERM', 5000);
    },
  };
}

/**
 * A scratch folder (`prefix` + random) with the OTLP sink, the benchmark's files and its
 * CheckRequest frame; runs `body` in it, then stops the sink and removes the folder.
 */
export async function inBenchWorkspace<T>(
  prefix: string,
  body: (w: { readonly workDir: string; readonly files: BenchFiles; readonly frameFile: string }) => Promise<T>,
): Promise<T> {
  const workDir = mkdtempSync(path.join(os.tmpdir(), prefix));
  const sink = await startOtlpSink(workDir);
  try {
    const files = await prepareBenchFiles(workDir, sink.port);
    return await body({ workDir, files, frameFile: writeBenchFrame(workDir, files.jwt) });
  } finally {
    await sink.stop();
    rmSync(workDir, { recursive: true, force: true });
  }
}
