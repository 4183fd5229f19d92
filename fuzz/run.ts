/**
 * Runs N fuzz cases with a seed through the real Check pipeline (in process: the same code the
 * gRPC server calls) and checks the invariants (invariants.ts) on every answer.
 */
import { performance } from 'node:perf_hooks';
import type { AuditRecord } from '../src/audit/record.ts';
import type { CheckResponse } from '../src/envoy/response.ts';
import { createCheck } from '../src/pipeline/check.ts';
import { generateCase, type FuzzCase } from './cases.ts';
import { violations } from './invariants.ts';
import { caseRng } from './rng.ts';
import { createWorld } from './world.ts';

export interface Violation {
  readonly index: number;
  readonly label: string;
  readonly problems: readonly string[];
}

export interface FuzzSummary {
  readonly cases: number;
  readonly seed: number;
  readonly allowed: number;
  /** Allowed cases that carried a scoped key in its own header (bodies that were read and decided). */
  readonly allowedWithScopedKey: number;
  /** Allowed cases per configured provider routed to. */
  readonly allowedByProvider: Readonly<Record<string, number>>;
  readonly reasons: Readonly<Record<string, number>>;
  readonly violations: readonly Violation[];
  readonly seconds: number;
}

/** The invariant check on one answer, exposed so a test can prove it fails on a bad answer. */
export { violations };

export async function runFuzz(n: number, seed: number, onProgress?: (done: number) => void): Promise<FuzzSummary> {
  const world = await createWorld();
  let records: AuditRecord[] = [];
  const sinks = { onDecision: (r: AuditRecord) => records.push(r), onError: () => undefined };
  const withPolicies = createCheck(() => world.withPolicies, sinks);
  const builtIn = createCheck(() => world.builtIn, sinks);
  const reasons: Record<string, number> = {};
  const found: Violation[] = [];
  let allowed = 0;
  let allowedWithScopedKey = 0;
  const allowedByProvider: Record<string, number> = {};
  const started = performance.now();
  try {
    for (let i = 0; i < n; i++) {
      const c: FuzzCase = generateCase(caseRng(seed, i));
      records = [];
      const res: CheckResponse = await (c.policies ? withPolicies : builtIn)(c.raw);
      const problems = violations(c, res, records);
      if (problems.length > 0 && found.length < 1000) found.push({ index: i, label: c.label, problems });
      const reason = records[0]?.['decision.reason'] ?? '(no record)';
      reasons[reason] = (reasons[reason] ?? 0) + 1;
      if (res.status.code === 0) {
        allowed++;
        if (records[0]?.['identity.method'] === 'api_key') allowedWithScopedKey++;
        const provider = records[0]?.['llm.provider'] ?? '(none)';
        allowedByProvider[provider] = (allowedByProvider[provider] ?? 0) + 1;
      }
      if (onProgress !== undefined && (i + 1) % 10_000 === 0) onProgress(i + 1);
    }
  } finally {
    await world.close();
  }
  return { cases: n, seed, allowed, allowedWithScopedKey, allowedByProvider, reasons, violations: found, seconds: Math.round((performance.now() - started) / 100) / 10 };
}
