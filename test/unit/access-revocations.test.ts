/**
 * The revocation list: `llm-authz revocations`, and the identity phase denying a listed
 * identity (`revoked_identity`) whatever credential it presents, within one reload interval
 * (timers faked: the interval is the clock), keeping the last good list on a bad file, and
 * naming who was denied in the audit record.
 */
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { keys } from '../../src/cli/keys.ts';
import { revocations } from '../../src/cli/revocations.ts';
import { REASONS } from '../../src/core/reasons.ts';
import type { KeyStoreReloadEvent } from '../../src/core/build-context.ts';
import { readRevocationFile } from '../../src/identity/revocation-list.ts';
import { chatRequest, checker, clockedRuntime, createdKey, sink, tempDir } from '../helpers/access.ts';

const T0 = Date.parse('2026-01-01T00:00:00Z');
const INTERVAL = 1000;

async function rev(args: string[]): Promise<string> {
  const s = sink();
  expect(await revocations(args, s.out, () => T0)).toBe(0);
  return s.text();
}
async function key(store: string, args: string[]): Promise<{ id: string; key: string }> {
  const s = sink();
  expect(await keys(['create', '--store', store, '--models', '*', ...args], s.out, () => T0)).toBe(0);
  return createdKey(s.text());
}

const CONFIG = `providers:
  - {name: openai, api: openai}
identity:
  key_store: {file: keys.json}
  revocation_list: {file: revoked.json, reload_interval_ms: ${INTERVAL}}
  envoy_jwt:
    issuers: [{issuer: "https://issuer.test", agent_claim: azp}]
`;

afterEach(() => {
  vi.useRealTimers();
});

describe('llm-authz revocations', () => {
  it('adds, lists and removes identities of each kind; adding twice is a no-op', async () => {
    const list = path.join(tempDir('rev'), 'revoked.json');
    expect(await rev(['add', '--list', list, '--workload', 'wl-a', '--reason', 'team left', '--by', 'alice'])).toContain('workload wl-a added');
    expect(await rev(['add', '--list', list, '--workload', 'wl-a'])).toContain('already on the revocation list');
    await rev(['add', '--list', list, '--agent', 'planner']);
    await rev(['add', '--list', list, '--spiffe-id', 'spiffe://prod.test/ns/x/sa/y']);
    await rev(['add', '--list', list, '--issuer', 'https://issuer.test', '--subject', 'svc-7']);
    expect(readRevocationFile(list).revoked).toHaveLength(4);
    expect(readRevocationFile(list).revoked[0]).toEqual({ workload: 'wl-a', revoked_at: new Date(T0).toISOString(), revoked_by: 'alice', reason: 'team left' });
    const listed = await rev(['list', '--list', list]);
    expect(listed.split('\n').filter(Boolean)).toEqual([
      `workload wl-a  revoked_at=${new Date(T0).toISOString()}  by=alice  reason="team left"`,
      `agent planner  revoked_at=${new Date(T0).toISOString()}`,
      `SPIFFE ID spiffe://prod.test/ns/x/sa/y  revoked_at=${new Date(T0).toISOString()}`,
      `issuer https://issuer.test subject svc-7  revoked_at=${new Date(T0).toISOString()}`,
    ]);
    expect(await rev(['remove', '--list', list, '--agent', 'planner'])).toContain('agent planner removed');
    expect(readRevocationFile(list).revoked).toHaveLength(3);
  });

  it('refuses entries naming nothing, two things, a subject without issuer, or a bad SPIFFE ID', async () => {
    const list = path.join(tempDir('rev'), 'revoked.json');
    await expect(revocations(['add', '--list', list], sink().out)).rejects.toThrow(/exactly one of/);
    await expect(revocations(['add', '--list', list, '--workload', 'a', '--agent', 'b'], sink().out)).rejects.toThrow(/exactly one of/);
    await expect(revocations(['add', '--list', list, '--subject', 's'], sink().out)).rejects.toThrow(/exactly one of/);
    await expect(revocations(['add', '--list', list, '--spiffe-id', 'http://x'], sink().out)).rejects.toThrow(/SPIFFE ID/);
    await expect(revocations(['remove', '--list', list, '--workload', 'a'], sink().out)).rejects.toThrow(/no revocation list/);
  });
});

describe('revoked_identity', () => {
  it('is a closed-set reason code with status 403', () => {
    expect(REASONS.revoked_identity.status).toBe(403);
  });

  it('denies a listed workload within one reload interval, whatever credential it presents; other callers unaffected', async () => {
    vi.useFakeTimers({ toFake: ['setInterval', 'clearInterval'] });
    const dir = tempDir('rev');
    const store = path.join(dir, 'keys.json');
    const list = path.join(dir, 'revoked.json');
    const a1 = await key(store, ['--workload', 'wl-a', '--owner', 'team-a']);
    const a2 = await key(store, ['--workload', 'wl-a', '--agent', 'helper']);
    const b = await key(store, ['--workload', 'wl-b']);
    writeFileSync(list, '{"version": 1, "revoked": []}\n');
    const rt = clockedRuntime(CONFIG, dir, () => T0);
    const { check, last } = checker(rt);
    expect((await check(chatRequest({ bearer: a1.key }))).status.code).toBe(0);

    await rev(['add', '--list', list, '--workload', 'wl-a']);
    // Not yet re-read: the file is checked once per interval.
    vi.advanceTimersByTime(INTERVAL - 1);
    expect((await check(chatRequest({ bearer: a1.key }))).status.code).toBe(0);
    vi.advanceTimersByTime(1);
    for (const k of [a1, a2]) {
      const res = await check(chatRequest({ bearer: k.key }));
      expect(res.denied_response?.status.code).toBe(403);
      expect(JSON.parse(res.denied_response?.body ?? '')).toMatchObject({ error: { code: 'revoked_identity' } });
      // The deny names who was turned away.
      expect(last()).toMatchObject({ 'decision.reason': 'revoked_identity', 'decision.phase': 'identity', 'identity.workload': 'wl-a', 'identity.credential_id': k.id });
    }
    expect(last()['identity.agent']).toBe('helper');
    expect((await check(chatRequest({ bearer: b.key }))).status.code).toBe(0);
    // An Envoy-verified token naming the same workload is denied too.
    await check(chatRequest({ envoyJwt: { iss: 'https://issuer.test', sub: 'wl-a' } }));
    expect(last()).toMatchObject({ 'decision.reason': 'revoked_identity', 'identity.method': 'envoy_jwt' });

    // Removed again: allowed after the next interval.
    await rev(['remove', '--list', list, '--workload', 'wl-a']);
    vi.advanceTimersByTime(INTERVAL);
    expect((await check(chatRequest({ bearer: a1.key }))).status.code).toBe(0);
    await rt.close();
  });

  it('denies by agent, by SPIFFE ID (also as the mTLS peer of a key), and by JWT issuer + subject', async () => {
    vi.useFakeTimers({ toFake: ['setInterval', 'clearInterval'] });
    const dir = tempDir('rev');
    const store = path.join(dir, 'keys.json');
    const list = path.join(dir, 'revoked.json');
    const planner = await key(store, ['--workload', 'wl-p', '--agent', 'planner']);
    const plain = await key(store, ['--workload', 'wl-q']);
    writeFileSync(list, '{"version": 1, "revoked": []}\n');
    const rt = clockedRuntime(CONFIG, dir, () => T0);
    const { check, last } = checker(rt);
    const peer = 'spiffe://prod.test/ns/apps/sa/leaky';
    const jwt = { iss: 'https://issuer.test', sub: 'svc-7', azp: 'ci-bot' };
    expect((await check(chatRequest({ bearer: planner.key }))).status.code).toBe(0);
    expect((await check(chatRequest({ bearer: plain.key, principal: peer }))).status.code).toBe(0);
    expect((await check(chatRequest({ envoyJwt: jwt }))).status.code).toBe(0);

    await rev(['add', '--list', list, '--agent', 'planner']);
    await rev(['add', '--list', list, '--spiffe-id', peer]);
    await rev(['add', '--list', list, '--issuer', 'https://issuer.test', '--subject', 'svc-7']);
    vi.advanceTimersByTime(INTERVAL);
    await check(chatRequest({ bearer: planner.key }));
    expect(last()).toMatchObject({ 'decision.reason': 'revoked_identity', 'identity.agent': 'planner' });
    await check(chatRequest({ bearer: plain.key, principal: peer }));
    expect(last()).toMatchObject({ 'decision.reason': 'revoked_identity', 'identity.workload': 'wl-q', 'source.principal': peer });
    await check(chatRequest({ envoyJwt: jwt }));
    expect(last()).toMatchObject({ 'decision.reason': 'revoked_identity', 'identity.workload': 'svc-7', 'identity.issuer': 'https://issuer.test' });
    // The same subject from another issuer, and the key without the peer, are not revoked.
    expect((await check(chatRequest({ bearer: plain.key }))).status.code).toBe(0);
    await rt.close();
  });

  it('keeps the last good list when the file turns bad (a revocation is never lifted by a broken write)', async () => {
    vi.useFakeTimers({ toFake: ['setInterval', 'clearInterval'] });
    const dir = tempDir('rev');
    const store = path.join(dir, 'keys.json');
    const list = path.join(dir, 'revoked.json');
    const a = await key(store, ['--workload', 'wl-a']);
    await rev(['add', '--list', list, '--workload', 'wl-a']);
    const events: KeyStoreReloadEvent[] = [];
    const rt = clockedRuntime(
      CONFIG,
      dir,
      () => T0,
      (e) => events.push(e),
    );
    const { check, last } = checker(rt);
    await check(chatRequest({ bearer: a.key }));
    expect(last()['decision.reason']).toBe('revoked_identity');
    for (const bad of ['{"version": 1, "revoked": [ {"workload"', '{"version": 2, "revoked": []}', '']) {
      writeFileSync(list, bad);
      vi.advanceTimersByTime(INTERVAL);
      await check(chatRequest({ bearer: a.key }));
      expect(last()['decision.reason']).toBe('revoked_identity');
    }
    // Each rejected change is reported (health marks the list stale), never with the file's content.
    expect(events).toHaveLength(3);
    for (const e of events) expect(e).toMatchObject({ file: list, outcome: 'kept_last_good', problem: expect.stringMatching(/^revocation list /) });
    // A good file again: reloaded, reported as such (health recovers), and it decides.
    writeFileSync(list, '{"version": 1, "revoked": []}');
    vi.advanceTimersByTime(INTERVAL);
    expect(events.at(-1)).toEqual({ file: list, outcome: 'reloaded' });
    await check(chatRequest({ bearer: a.key }));
    expect(last()['decision.effect']).toBe('allow');
    await rt.close();
  });

  it('a missing or invalid list at start is a config error naming the file', () => {
    const dir = tempDir('rev');
    writeFileSync(path.join(dir, 'keys.json'), '{"version": 1, "keys": []}');
    expect(() => clockedRuntime(CONFIG, dir, () => T0)).toThrow(/identity\.revocation_list\.file: revocation list .*revoked\.json: cannot read the file: ENOENT/);
    writeFileSync(path.join(dir, 'revoked.json'), '{"version": 1, "revoked": [{"workload": "x"}]}');
    expect(() => clockedRuntime(CONFIG, dir, () => T0)).toThrow(/revoked\.0\.revoked_at/);
  });
});
