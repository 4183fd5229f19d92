/**
 * A closed-loop gRPC load generator that cycles through many pre-encoded CheckRequests (h2load
 * sends one body only). Used where the request must vary, e.g. distinct identities. It runs in
 * the harness process and shares the machine with the server: compare its points with each
 * other, not with h2load's figures.
 */
import * as grpc from '@grpc/grpc-js';
import type { LoadResult } from './h2load.ts';

const same = (b: Buffer): Buffer => b;

export async function grpcLoad(o: { port: number; messages: readonly Buffer[]; concurrency: number; durationS: number }): Promise<LoadResult> {
  const client = new grpc.Client(`127.0.0.1:${o.port}`, grpc.credentials.createInsecure());
  const lat: number[] = [];
  let errors = 0;
  let next = 0;
  const end = performance.now() + o.durationS * 1000;
  const one = (msg: Buffer): Promise<void> =>
    new Promise((resolve) => {
      const t = performance.now();
      client.makeUnaryRequest('/envoy.service.auth.v3.Authorization/Check', same, same, msg, (err) => {
        if (err) errors++;
        else lat.push(performance.now() - t);
        resolve();
      });
    });
  const worker = async (): Promise<void> => {
    while (performance.now() < end) {
      const msg = o.messages[next++ % o.messages.length];
      if (msg === undefined) break;
      await one(msg);
    }
  };
  await Promise.all(Array.from({ length: o.concurrency }, worker));
  client.close();
  lat.sort((a, b) => a - b);
  const pct = (p: number): number => lat[Math.min(lat.length - 1, Math.max(0, Math.ceil((p / 100) * lat.length) - 1))] ?? Number.NaN;
  return {
    requests: lat.length + errors,
    succeeded: lat.length,
    errors,
    seconds: o.durationS,
    rps: lat.length / o.durationS,
    p50: pct(50),
    p90: pct(90),
    p99: pct(99),
    max: lat[lat.length - 1] ?? Number.NaN,
  };
}
