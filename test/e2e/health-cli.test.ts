/**
 * `llm-authz health` (the image's HEALTHCHECK) against a running llm-authz: SERVING on its
 * health-only listener and on the Check listener, and an exit code of 1 when nothing answers.
 */
import { spawnSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { startAuthz } from '../../devstack/authz.ts';
import { freePort } from '../../devstack/ports.ts';
import { cliEntry } from '../../devstack/tools.ts';
import { newWorkDir } from '../helpers/stack.ts';

function health(address: string, service = ''): { code: number | null; out: string } {
  const r = spawnSync(process.execPath, [cliEntry(), 'health', '--address', address, '--service', service], { encoding: 'utf8', timeout: 20_000 });
  return { code: r.status, out: r.stdout.trim() };
}

describe('llm-authz health', () => {
  it('exits 0 (SERVING) on the health listener and the Check listener, 1 when nothing answers', async () => {
    const healthPort = await freePort();
    const authz = await startAuthz({ workDir: newWorkDir('health-cli'), env: {}, extraArgs: ['--health-listen', `127.0.0.1:${healthPort}`] });
    try {
      expect(health(`127.0.0.1:${healthPort}`)).toEqual({ code: 0, out: 'SERVING' });
      expect(health(`127.0.0.1:${healthPort}`, 'envoy.service.auth.v3.Authorization')).toEqual({ code: 0, out: 'SERVING' });
      expect(health(`127.0.0.1:${authz.port}`)).toEqual({ code: 0, out: 'SERVING' });
    } finally {
      await authz.stop();
    }
    const closed = health(`127.0.0.1:${healthPort}`);
    expect(closed.code).toBe(1);
    expect(closed.out).toMatch(/^NOT_REACHABLE/);
  });
});
