/**
 * Scaling curves: the number of policy rules (h2load, one request) and the number of distinct
 * identities (distinct JWTs cycled by grpc-load.ts: the verified-token cache holds 10,000).
 */
import { writeFileSync, mkdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { exportJWK, generateKeyPair, SignJWT } from 'jose';
import { checkRequestFrame, createAuthzClient } from '../devstack/grpc-client.ts';
import { grpcLoad } from './grpc-load.ts';
import type { LoadResult } from './h2load.ts';
import { cpuSeconds, rssMiB } from './procstat.ts';
import { startLlmAuthz } from './servers.ts';
import { BENCH_ENV, BENCH_WORKLOAD, benchCheckRequest } from './setup.ts';

export type ScalePoint = LoadResult & { n: number; cpuMsPer1k: number; rssMiB: number };

async function allows(port: number, req: unknown): Promise<void> {
  const c = createAuthzClient(`127.0.0.1:${port}`);
  try {
    const res = await c.check(req);
    if (((res['status'] as { code?: number } | undefined)?.code ?? 0) !== 0) throw new Error('the scaling request is not allowed: the curve would be meaningless');
  } finally {
    c.close();
  }
}

/** N rules: N-1 deny guards that do not match and one allow that does; all are evaluated. */
function rulesYaml(n: number): string {
  const lines = ['rules:'];
  for (let i = 0; i < n - 1; i++)
    lines.push(`  - id: guard-${i}`, '    effect: deny', `    when: 'llm.model == "blocked-model-${i}" || (has(llm.max_tokens) && llm.max_tokens > ${100000 + i})'`);
  lines.push('  - id: allow-bench', '    effect: allow', `    when: 'identity.workload == "${BENCH_WORKLOAD}" && llm.model.glob("gpt-4o*")'`);
  return `${lines.join('\n')}\n`;
}

export async function rulesScaling(o: {
  workDir: string;
  baseConfig: string;
  frame: Buffer;
  request: unknown;
  counts: readonly number[];
  durationS: number;
  load: (port: number, frameFile: string) => Promise<LoadResult>;
  log: (m: string) => void;
}): Promise<ScalePoint[]> {
  const points: ScalePoint[] = [];
  const frameFile = path.join(o.workDir, 'rules-frame.bin');
  writeFileSync(frameFile, o.frame);
  for (const n of o.counts) {
    const dir = path.join(o.workDir, `rules-${n}`);
    mkdirSync(path.join(dir, 'policies'), { recursive: true });
    writeFileSync(path.join(dir, 'policies', 'rules.yaml'), rulesYaml(n));
    const cfg = readFileSync(o.baseConfig, 'utf8').replace(/policy:\n {2}dir: policies/, `policy:\n  dir: ${path.join(dir, 'policies')}`);
    const cfgFile = path.join(dir, 'llm-authz.yaml');
    writeFileSync(cfgFile, cfg);
    o.log(`  ${n} rules`);
    const server = await startLlmAuthz(dir, cfgFile, BENCH_ENV);
    try {
      await allows(server.port, o.request);
      await o.load(server.port, frameFile); // warm-up
      const cpu0 = cpuSeconds(server.pid);
      const r = await o.load(server.port, frameFile);
      points.push({ n, ...r, cpuMsPer1k: ((cpuSeconds(server.pid) - cpu0) * 1e6) / Math.max(1, r.requests), rssMiB: rssMiB(server.pid) });
    } finally {
      await server.stop();
    }
  }
  return points;
}

/** Distinct callers: N ES256 JWTs for N workloads, cycled; the policy allows any bench workload. */
export async function identityScaling(o: { workDir: string; counts: readonly number[]; durationS: number; log: (m: string) => void }): Promise<ScalePoint[]> {
  const { publicKey, privateKey } = await generateKeyPair('ES256');
  const jwk = { ...(await exportJWK(publicKey)), kid: 'scale-1', alg: 'ES256', use: 'sig' };
  const dir = path.join(o.workDir, 'identities');
  mkdirSync(path.join(dir, 'policies'), { recursive: true });
  writeFileSync(
    path.join(dir, 'policies', 'rules.yaml'),
    `rules:\n  - id: allow-bench-workloads\n    effect: allow\n    when: 'identity.workload.startsWith("spiffe://bench.example/ns/scale/") && llm.model == "gpt-4o-mini"'\n`,
  );
  const cfgFile = path.join(dir, 'llm-authz.yaml');
  writeFileSync(
    cfgFile,
    `server:\n  check_timeout_ms: 2000\ncredentials:\n  openai: { env: BENCH_OPENAI_KEY }\nproviders:\n  - { name: openai, api: openai, credential: openai }\nidentity:\n  jwt:\n    issuers:\n      - issuer: https://scale.bench.example\n        audiences: [llm-authz]\n        algorithms: [ES256]\n        jwks:\n          keys: [${JSON.stringify(jwk)}]\npolicy:\n  dir: policies\ndecision_log:\n  sink: ${path.join(dir, 'decisions.log')}\n`,
  );
  const max = Math.max(...o.counts);
  o.log(`  signing ${max} tokens`);
  const tokens: string[] = [];
  for (let i = 0; i < max; i++) {
    tokens.push(
      await new SignJWT({})
        .setProtectedHeader({ alg: 'ES256', kid: 'scale-1' })
        .setIssuer('https://scale.bench.example')
        .setAudience('llm-authz')
        .setSubject(`spiffe://bench.example/ns/scale/sa/w${i}`)
        .setExpirationTime('2h')
        .sign(privateKey),
    );
  }
  const points: ScalePoint[] = [];
  for (const n of o.counts) {
    o.log(`  ${n} distinct identities`);
    const messages = tokens.slice(0, n).map((t) => checkRequestFrame(benchCheckRequest(512, t)).subarray(5));
    const server = await startLlmAuthz(dir, cfgFile, BENCH_ENV);
    try {
      await allows(server.port, benchCheckRequest(512, tokens[0] ?? ''));
      await grpcLoad({ port: server.port, messages, concurrency: 32, durationS: Math.min(2, o.durationS) });
      const cpu0 = cpuSeconds(server.pid);
      const r = await grpcLoad({ port: server.port, messages, concurrency: 32, durationS: o.durationS });
      points.push({ n, ...r, cpuMsPer1k: ((cpuSeconds(server.pid) - cpu0) * 1e6) / Math.max(1, r.requests), rssMiB: rssMiB(server.pid) });
    } finally {
      await server.stop();
    }
  }
  return points;
}
