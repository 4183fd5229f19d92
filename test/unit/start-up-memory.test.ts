import { execFileSync } from 'node:child_process';
import path from 'node:path';
import v8 from 'node:v8';
import vm from 'node:vm';
import { describe, expect, it } from 'vitest';
import { releaseStartUpMemory } from '../../src/cli/start-up-memory.ts';

const ROOT = path.resolve(import.meta.dirname, '../..');

const newSpace = (): number => v8.getHeapSpaceStatistics().find((s) => s.space_name === 'new_space')?.physical_space_size ?? 0;

/** Objects that survive scavenges, allocated fast: V8 grows its semi-spaces as start-up makes it do. */
function growYoungGeneration(): void {
  let keep: object[] = [];
  for (let round = 0; round < 40; round++) {
    for (let i = 0; i < 100_000; i++) keep.push({ round, i, s: `x${i}` });
    if (keep.length > 400_000) keep = keep.slice(200_000);
  }
  keep.length = 0;
}

describe('releaseStartUpMemory', () => {
  it('gives back the young generation that fast allocation grew, and compacts the heap', () => {
    growYoungGeneration();
    const before = newSpace();
    expect(before).toBeGreaterThan(4 * 1048576);
    const r = releaseStartUpMemory();
    expect(r).toBeDefined();
    expect(newSpace()).toBeLessThan(before / 4);
    expect(r?.heapMiBAfter).toBeLessThan(r?.heapMiBBefore ?? 0);
  });

  it('leaves the process without --expose-gc: a new context has no gc function', () => {
    releaseStartUpMemory();
    expect(vm.runInNewContext('typeof gc')).toBe('undefined');
    expect((globalThis as { gc?: unknown }).gc).toBeUndefined();
  });

  it('with V8 flags frozen (--freeze-flags-after-init), collects nothing instead of setting a flag (a fatal error)', () => {
    const script = `
      import { releaseStartUpMemory } from ${JSON.stringify(path.join(ROOT, 'src/cli/start-up-memory.ts'))};
      process.stdout.write(String(releaseStartUpMemory()));
    `;
    const run = (flags: readonly string[]): string =>
      execFileSync(process.execPath, [...flags, '--input-type=module', '-e', script], { cwd: ROOT, encoding: 'utf8', env: { ...process.env, NODE_OPTIONS: '' } });
    expect(run(['--freeze-flags-after-init'])).toBe('undefined');
    expect(run(['--freeze_flags_after_init'])).toBe('undefined');
    expect(run([])).toBe('[object Object]');
  });
});
