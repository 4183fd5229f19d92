/** Test wrapper around the dev stack: keeps the logs of a failed test and says where they are. */
import { mkdirSync, mkdtempSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, onTestFailed } from 'vitest';
import { ROOT } from '../../src/devstack/tools.ts';
import { startStack, type Stack, type StackOptions } from '../../src/devstack/stack.ts';

const RESULTS = path.join(ROOT, 'test-results');

export function newWorkDir(prefix: string): string {
  mkdirSync(RESULTS, { recursive: true });
  return mkdtempSync(path.join(RESULTS, `${prefix}-`));
}

/** Starts one stack for a describe block; its logs are kept in test-results/ if any test failed. */
export function useStack(prefix: string, opts: StackOptions = {}): () => Stack {
  let stack: Stack | undefined;
  let failed = false;
  beforeAll(async () => {
    stack = await startStack({ ...opts, workDir: newWorkDir(prefix) });
  });
  afterAll(async () => {
    if (stack) {
      await stack.stop({ keep: failed });
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
