/**
 * The servers the node:http2 prototype is compared across, each started as compiled JavaScript
 * (llm-authz serve: the built CLI's `serve`, which since the prototype was shipped runs on
 * src/server/grpc-h2.ts with src/envoy/check-request-decoder.ts, like 'h2 llm-authz lean'; RESULTS.md's
 * "grpc-js llm-authz" column is `serve` before that; the others: bench/proto-h2/out, built here
 * with tsc from bench/proto-h2/tsconfig.json), with the in-server probes compiled too.
 */
import { execFileSync } from 'node:child_process';
import { copyFileSync, mkdirSync } from 'node:fs';
import path from 'node:path';
import { startChild } from '../../devstack/process.ts';
import { ROOT } from '../../devstack/tools.ts';
import { ENVOY_PROTO_FILE } from '../../src/envoy/proto.ts';
import { startLlmAuthz, type AuthzUnderTest } from '../servers.ts';

export const VARIANTS = ['grpc-js floor', 'llm-authz serve', 'h2 floor', 'h2 llm-authz', 'h2 llm-authz lean'] as const;
export type Variant = (typeof VARIANTS)[number];

export const OUT = path.join(ROOT, 'bench', 'proto-h2', 'out');
export const PROBES = {
  alloc: path.join(OUT, 'bench', 'alloc-probe.js'),
  loop: path.join(OUT, 'bench', 'loop-probe.js'),
  mem: path.join(OUT, 'bench', 'proto-h2', 'mem-probe.js'),
} as const;

/**
 * Compiles the prototype, the grpc-js floor and the probes into bench/proto-h2/out, with the Envoy
 * protos where src/envoy/proto.ts looks for them (relative to the compiled tree's root).
 */
export function buildPrototype(): void {
  execFileSync(path.join(ROOT, 'node_modules', '.bin', 'tsc'), ['-p', path.join(ROOT, 'bench', 'proto-h2', 'tsconfig.json')], { stdio: 'inherit' });
  mkdirSync(path.join(OUT, path.dirname(ENVOY_PROTO_FILE)), { recursive: true });
  copyFileSync(path.join(ROOT, ENVOY_PROTO_FILE), path.join(OUT, ENVOY_PROTO_FILE));
}

const SCRIPT: Readonly<Record<Exclude<Variant, 'llm-authz serve'>, readonly string[]>> = {
  'grpc-js floor': [path.join(OUT, 'bench', 'floor.js')],
  'h2 floor': [path.join(OUT, 'bench', 'proto-h2', 'floor-h2.js')],
  'h2 llm-authz': [path.join(OUT, 'bench', 'proto-h2', 'serve-h2.js'), '--decoder', 'protobufjs'],
  'h2 llm-authz lean': [path.join(OUT, 'bench', 'proto-h2', 'serve-h2.js'), '--decoder', 'lean'],
};

export async function startVariant(
  v: Variant,
  o: { workDir: string; config: string; env: NodeJS.ProcessEnv; nodeArgs?: readonly string[]; route?: string },
): Promise<AuthzUnderTest> {
  const nodeArgs = o.nodeArgs ?? [];
  if (v === 'llm-authz serve') return { ...(await startLlmAuthz(o.workDir, o.config, o.env, nodeArgs)), name: v };
  const [script, ...rest] = SCRIPT[v];
  const args = [
    ...nodeArgs,
    script as string,
    ...rest,
    '--listen',
    '127.0.0.1:0',
    ...(v.includes('llm-authz') ? ['--config', o.config] : []),
    ...(o.route ? ['--route', o.route] : []),
  ];
  const logFile = path.join(o.workDir, `${v.replaceAll(' ', '-')}.log`);
  const child = startChild(process.execPath, args, { logFile, env: { ...process.env, ...o.env } });
  const line = await child.waitForLine('stdout', (l) => l.startsWith('{"port"'), 30_000);
  const port = (JSON.parse(line) as { port: number }).port;
  return {
    name: v,
    port,
    pid: child.proc.pid ?? -1,
    async stop() {
      await child.stop('SIGTERM', 5000);
    },
  };
}

/** The log file startVariant wrote the variant's output to (llm-authz serve: servers.ts's). */
export function variantLog(v: Variant, workDir: string): string {
  return path.join(workDir, v === 'llm-authz serve' ? 'llm-authz.log' : `${v.replaceAll(' ', '-')}.log`);
}
