/**
 * Fixed-rate load with vegeta: requests leave at evenly spaced times (open loop), so latency
 * at a rate is not inflated by the load generator. (h2load's --rps fires a timer at most every
 * 10 ms and sends the requests due in a burst: at 1k rps, ten requests arrive at once.)
 */
import { execFile } from 'node:child_process';
import { rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { promisify } from 'node:util';
import { TOOLS_DIR } from '../devstack/tools.ts';
import type { LoadResult } from './h2load.ts';

const run = promisify(execFile);

export interface RateOptions {
  readonly url: string;
  readonly dataFile: string;
  readonly headers: readonly string[];
  readonly rate: number;
  readonly durationS: number;
  /** HTTP/2 without TLS (gRPC); otherwise HTTP/1.1 with keep-alive. */
  readonly h2c: boolean;
  readonly workDir: string;
}

interface VegetaReport {
  requests: number;
  rate: number;
  throughput: number;
  duration: number;
  latencies: { '50th': number; '90th': number; '99th': number; max: number };
  status_codes: Record<string, number>;
  errors: string[] | null;
}

const BIN = path.join(TOOLS_DIR, 'bin', 'vegeta');

/** Runs the attack; returns vegeta's binary results file, which the caller removes. */
async function attack(o: RateOptions): Promise<string> {
  const id = process.hrtime.bigint();
  const targets = path.join(o.workDir, `vegeta-${id}.targets`);
  const out = path.join(o.workDir, `vegeta-${id}.bin`);
  writeFileSync(targets, [`POST ${o.url}`, ...o.headers.map((h) => h.replace(/^([^:]+):\s*/, '$1: ')), `@${o.dataFile}`, ''].join('\n'));
  const args = ['attack', `-targets=${targets}`, `-rate=${o.rate}/1s`, `-duration=${o.durationS}s`, '-timeout=10s', `-output=${out}`, '-max-body=0'];
  if (o.h2c) args.push('-h2c');
  try {
    await run(BIN, args, { maxBuffer: 16 * 1024 * 1024 });
  } finally {
    rmSync(targets, { force: true });
  }
  return out;
}

/** One request of an attack: when vegeta sent it (ms since the epoch) and how long until its answer (ms). */
export interface RequestTiming {
  readonly sentMs: number;
  readonly latencyMs: number;
  readonly ok: boolean;
}

/** The attack's requests one by one (bench/tail-requests.ts), in the order vegeta recorded them. */
export async function vegetaRequests(o: RateOptions): Promise<RequestTiming[]> {
  const out = await attack(o);
  try {
    const { stdout } = await run(BIN, ['encode', '--to', 'csv', out], { maxBuffer: 1 << 28 });
    // timestamp (ns since the epoch), status, latency (ns), ...
    return stdout
      .trim()
      .split('\n')
      .map((line) => {
        const [ts, code, latency] = line.split(',');
        return { sentMs: Number(ts) / 1e6, latencyMs: Number(latency) / 1e6, ok: code === '200' };
      });
  } finally {
    rmSync(out, { force: true });
  }
}

export async function vegeta(o: RateOptions): Promise<LoadResult> {
  const out = await attack(o);
  const { stdout } = await run(BIN, ['report', '-type=json', out], { maxBuffer: 16 * 1024 * 1024 }).finally(() => rmSync(out, { force: true }));
  const r = JSON.parse(stdout) as VegetaReport;
  const ok = r.status_codes['200'] ?? 0;
  const ms = (ns: number): number => ns / 1e6;
  // Non-200 answers by status; status 0 is a request that got no answer (vegeta's error texts say why).
  const failures: Record<string, number> = {};
  for (const [code, n] of Object.entries(r.status_codes)) if (code !== '200' && code !== '0') failures[`HTTP ${code}`] = n;
  const unanswered = r.status_codes['0'] ?? 0;
  if (unanswered > 0)
    failures[
      `no answer (${
        (r.errors ?? [])
          .filter((e) => !/^\d{3} /.test(e))
          .slice(0, 3)
          .join('; ') || 'no error text'
      })`
    ] = unanswered;
  return {
    requests: r.requests,
    succeeded: ok,
    errors: r.requests - ok,
    seconds: r.duration / 1e9,
    rps: r.rate,
    throughput: r.throughput,
    p50: ms(r.latencies['50th']),
    p90: ms(r.latencies['90th']),
    p99: ms(r.latencies['99th']),
    max: ms(r.latencies.max),
    ...(Object.keys(failures).length > 0 ? { failures } : {}),
  };
}
