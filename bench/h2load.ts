/** Runs h2load and reads its per-request log into latency percentiles. */
import { execFile } from 'node:child_process';
import { readFileSync, rmSync } from 'node:fs';
import path from 'node:path';
import { promisify } from 'node:util';
import { TOOLS_DIR } from '../devstack/tools.ts';

const run = promisify(execFile);

export interface LoadResult {
  readonly requests: number;
  readonly succeeded: number;
  readonly errors: number;
  readonly seconds: number;
  readonly rps: number;
  /** Latency percentiles in milliseconds. */
  readonly p50: number;
  readonly p90: number;
  readonly p99: number;
  readonly max: number;
  /**
   * Successful responses per second, over the run and the wait for its last answers (vegeta only):
   * below the rate when the server falls behind and its queue grows.
   */
  readonly throughput?: number;
  /** What the failed requests got (vegeta only): `HTTP 503`, or the client's error text, with counts. */
  readonly failures?: Readonly<Record<string, number>>;
}

/**
 * The median of a server's rounds by one figure (req/s, p99): a round as it was measured, not a
 * mix of figures from different rounds. With an even count, the upper of the two middle ones.
 */
export function medianRound<T>(rounds: readonly T[], by: (r: T) => number): T {
  const round = [...rounds].sort((a, b) => by(a) - by(b))[Math.floor(rounds.length / 2)];
  if (round === undefined) throw new Error('no round to take the median of');
  return round;
}

export interface LoadOptions {
  readonly url: string;
  /** Body file sent with every request (a gRPC frame for Check calls). */
  readonly dataFile?: string;
  readonly headers?: readonly string[];
  readonly clients: number;
  readonly streams: number;
  readonly durationS: number;
  readonly workDir: string;
}

function pct(sorted: readonly number[], p: number): number {
  if (sorted.length === 0) return Number.NaN;
  const i = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
  return sorted[i] ?? Number.NaN;
}

export async function h2load(o: LoadOptions): Promise<LoadResult> {
  const log = path.join(o.workDir, `h2load-${process.hrtime.bigint()}.tsv`);
  const args = ['-t', '1', '-c', String(o.clients), '-m', String(o.streams), '-D', String(o.durationS), '--log-file', log];
  if (o.dataFile) args.push('-d', o.dataFile);
  for (const h of o.headers ?? []) args.push('-H', h);
  args.push(o.url);
  const { stdout } = await run(path.join(TOOLS_DIR, 'bin', 'h2load'), args, { maxBuffer: 64 * 1024 * 1024 });
  const m = /requests: (\d+) total, (\d+) started, (\d+) done, (\d+) succeeded, (\d+) failed, (\d+) errored/.exec(stdout);
  const finished = /finished in ([\d.]+)(ms|s),/.exec(stdout);
  const lines = readFileSync(log, 'utf8').split('\n').filter(Boolean);
  rmSync(log, { force: true });
  const lat: number[] = [];
  let non200 = 0;
  for (const l of lines) {
    const [, status, us] = l.split('\t');
    if (status !== '200') non200++;
    lat.push(Number(us) / 1000);
  }
  lat.sort((a, b) => a - b);
  const seconds = finished ? Number(finished[1]) / (finished[2] === 'ms' ? 1000 : 1) : o.durationS;
  const succeeded = m ? Number(m[4]) : lines.length - non200;
  const failed = m ? Number(m[5]) + Number(m[6]) : 0;
  return {
    requests: lines.length,
    succeeded,
    errors: failed + non200,
    seconds,
    rps: lines.length / o.durationS,
    p50: pct(lat, 50),
    p90: pct(lat, 90),
    p99: pct(lat, 99),
    max: lat[lat.length - 1] ?? Number.NaN,
  };
}

/** The Check call on a server's port: its URL and the gRPC request headers. */
export const CHECK_GRPC_HEADERS: readonly string[] = ['content-type: application/grpc', 'te: trailers'];
export function checkUrl(port: number): string {
  return `http://127.0.0.1:${port}/envoy.service.auth.v3.Authorization/Check`;
}

/** Closed-loop Checks (a gRPC frame file), by default at the benchmark's 4 connections x 16 streams. */
export function h2loadChecks(o: { port: number; dataFile: string; durationS: number; workDir: string; clients?: number; streams?: number }): Promise<LoadResult> {
  return h2load({
    url: checkUrl(o.port),
    dataFile: o.dataFile,
    headers: CHECK_GRPC_HEADERS,
    clients: o.clients ?? 4,
    streams: o.streams ?? 16,
    durationS: o.durationS,
    workDir: o.workDir,
  });
}
