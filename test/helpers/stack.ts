/** Test wrapper around the dev stack: keeps the logs of a failed test and says where they are. */
import { mkdirSync, mkdtempSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, onTestFailed } from 'vitest';
import { ROOT } from '../../devstack/tools.ts';
import { startStack, type Stack, type StackOptions } from '../../devstack/stack.ts';
import { waitFor } from '../../devstack/ports.ts';
import { otlpParams } from './telemetry.ts';

const RESULTS = path.join(ROOT, 'test-results');

export function newWorkDir(prefix: string): string {
  mkdirSync(RESULTS, { recursive: true });
  return mkdtempSync(path.join(RESULTS, `${prefix}-`));
}

/**
 * Starts one stack for a describe block, tracing to the suite's Jaeger. Its logs stay in
 * test-results/ for the suite-wide secret scan; a failed test says where they are.
 */
export function useStack(prefix: string, opts: StackOptions = {}): () => Stack {
  let stack: Stack | undefined;
  let failed = false;
  beforeAll(async () => {
    const { OTLP_ADDRESS: address, OTLP_PORT: port } = otlpParams();
    stack = await startStack({ otlp: { address, port }, ...opts, workDir: newWorkDir(prefix) });
  });
  afterAll(async () => {
    if (stack) {
      await stack.stop({ keep: true });
      if (failed) process.stderr.write(`[e2e] logs of the failed test kept in ${stack.workDir}\n`);
    }
  });
  return () => {
    if (!stack) throw new Error('stack not started');
    onTestFailed(() => {
      failed = true;
    });
    return stack;
  };
}

/** Envoy's access-log line (JSON) for a request id, once it is written. */
export function accessLogLine(accessLog: string, requestId: string): Promise<Record<string, unknown>> {
  return waitFor('the access-log line', () =>
    readFileSync(accessLog, 'utf8')
      .split('\n')
      .filter(Boolean)
      .map((l) => JSON.parse(l) as Record<string, unknown>)
      .find((l) => l['request_id'] === requestId),
  );
}
