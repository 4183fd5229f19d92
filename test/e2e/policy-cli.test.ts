/** The built CLI: `llm-authz test` and `llm-authz check` exit codes, as users' CI sees them. */
import { spawnSync } from 'node:child_process';
import { cpSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { cliEntry, ROOT } from '../../devstack/tools.ts';

const run = (...args: string[]) => spawnSync(process.execPath, [cliEntry(), ...args], { cwd: ROOT, encoding: 'utf8' });
const tmp = mkdtempSync(path.join(os.tmpdir(), 'llm-authz-cli-e2e-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

describe('llm-authz test and check, as a command', () => {
  it('`llm-authz test examples/policies` passes', () => {
    const r = run('test', 'examples/policies');
    expect(r.stderr).toBe('');
    expect(r.stdout).toMatch(/^\d+ passed, 0 failed$/m);
    expect(r.status).toBe(0);
  });

  it('a deliberately wrong expectation makes it exit non-zero', () => {
    cpSync(path.join(ROOT, 'examples'), path.join(tmp, 'examples'), { recursive: true });
    const suite = path.join(tmp, 'examples/policies/tests/workloads.yaml');
    writeFileSync(suite, readFileSync(suite, 'utf8').replace('expect: {effect: allow, rule: research-team', 'expect: {effect: allow, rule: chat-app-models'));
    const r = run('test', path.join(tmp, 'examples/policies'));
    expect(r.status).toBe(1);
    expect(r.stdout).toContain("FAIL per-workload model allowlists and obligations / research workloads are routed to the team's account");
    expect(r.stdout).toContain('expected rule "chat-app-models", got "research-team"');
  });

  it('`llm-authz check` exits 0 on allow, 1 on deny, 2 on error', () => {
    expect(run('check', '--config', 'examples/policies/llm-authz.yaml', '--request', 'examples/policies/requests/batch-summarize.json').status).toBe(0);
    const deny = run('check', '--config', 'examples/policies/llm-authz.yaml', '--request', 'examples/policies/requests/batch-stream.json');
    expect(deny.status).toBe(1);
    expect(deny.stdout).toContain("by rule 'no-streaming-for-jobs'");
    expect(run('check', '--config', 'examples/policies/llm-authz.yaml').status).toBe(2);
  });
});
