/**
 * Entitlement metadata: `keys create` records it, `keys recertify` renews it, the identity
 * carries it (an API key's own, or the first matching `identity.entitlements` rule for JWT and
 * SPIFFE callers, whose scopes then bind), the audit record flags an overdue review, a policy
 * can deny on `identity.entitlement.*`. The clock is injected everywhere.
 */
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { keys } from '../../src/cli/keys.ts';
import { waitFor } from '../../devstack/ports.ts';
import { readKeyStoreFile } from '../../src/identity/key-store.ts';
import { readRevocationFile } from '../../src/identity/revocation-list.ts';
import { chatRequest, checker, clockedRuntime, createdKey, sink, tempDir } from '../helpers/access.ts';

const T0 = Date.parse('2026-01-01T00:00:00Z');
const DAY = 86_400_000;

async function run(args: string[], now: () => number): Promise<string> {
  const s = sink();
  expect(await keys(args, s.out, now)).toBe(0);
  return s.text();
}

describe('keys create / recertify / list: entitlement metadata', () => {
  it('create records owner, approver, approval time and the review date; list flags an overdue review', async () => {
    const dir = tempDir('ent');
    const store = path.join(dir, 'keys.json');
    const { id } = createdKey(
      await run(['create', '--store', store, '--workload', 'wl', '--models', '*', '--owner', 'team-data', '--approved-by', 'alice@example.org', '--review-in', '30d'], () => T0),
    );
    const k = readKeyStoreFile(store).keys.find((x) => x.id === id);
    expect(k).toMatchObject({ owner: 'team-data', approved_by: 'alice@example.org', approved_at: '2026-01-01T00:00:00.000Z', review_by: '2026-01-31T00:00:00.000Z' });
    expect(await run(['list', '--store', store], () => T0 + 29 * DAY)).not.toContain('OVERDUE');
    expect(await run(['list', '--store', store], () => T0 + 31 * DAY)).toMatch(new RegExp(`${id}.*owner=team-data.*review_by=2026-01-31T00:00:00.000Z \\(OVERDUE\\)`));
    const json = JSON.parse(await run(['list', '--store', store, '--json'], () => T0 + 31 * DAY)) as Record<string, unknown>[];
    expect(json[0]).toMatchObject({ owner: 'team-data', approved_by: 'alice@example.org', review_overdue: true });
  });

  it('create with --approved-by and no review date gets one 90 days out; without it, no approval is recorded', async () => {
    const dir = tempDir('ent');
    const store = path.join(dir, 'keys.json');
    const a = createdKey(await run(['create', '--store', store, '--workload', 'wl', '--models', '*', '--approved-by', 'bob'], () => T0));
    const b = createdKey(await run(['create', '--store', store, '--workload', 'wl', '--models', '*'], () => T0));
    const keysNow = readKeyStoreFile(store).keys;
    expect(keysNow.find((k) => k.id === a.id)?.review_by).toBe(new Date(T0 + 90 * DAY).toISOString());
    const plain = keysNow.find((k) => k.id === b.id);
    expect(plain?.owner).toBeUndefined();
    expect(plain?.approved_by).toBeUndefined();
    expect(plain?.review_by).toBeUndefined();
  });

  it('recertify renews approval and review date; it refuses a revoked key and needs --approved-by', async () => {
    const dir = tempDir('ent');
    const store = path.join(dir, 'keys.json');
    const { id } = createdKey(await run(['create', '--store', store, '--workload', 'wl', '--models', '*', '--owner', 'team', '--review-by', '2026-01-10'], () => T0));
    const out = await run(['recertify', '--store', store, '--id', id, '--approved-by', 'carol', '--review-in', '60d'], () => T0 + 20 * DAY);
    expect(out).toContain(`recertified ${id}: approved by carol`);
    expect(readKeyStoreFile(store).keys[0]).toMatchObject({
      owner: 'team',
      approved_by: 'carol',
      approved_at: new Date(T0 + 20 * DAY).toISOString(),
      review_by: new Date(T0 + 80 * DAY).toISOString(),
    });
    await expect(keys(['recertify', '--store', store, '--id', id], sink().out)).rejects.toThrow(/--approved-by/);
    await expect(keys(['create', '--store', store, '--workload', 'w', '--models', '*', '--review-in', '1d', '--review-by', '2026-02-01'], sink().out)).rejects.toThrow(/not both/);
    await expect(keys(['create', '--store', store, '--workload', 'w', '--models', '*', '--review-by', 'soon'], sink().out)).rejects.toThrow(/not a date/);
    await run(['revoke', '--store', store, '--id', id], () => T0);
    await expect(keys(['recertify', '--store', store, '--id', id, '--approved-by', 'dan'], sink().out)).rejects.toThrow(/revoked/);
  });
});

describe('keys revoke --workload / --agent / --owner: offboarding', () => {
  it('revokes every key bound to the workload in one write, and no other', async () => {
    const dir = tempDir('ent');
    const store = path.join(dir, 'keys.json');
    const a1 = createdKey(await run(['create', '--store', store, '--workload', 'wl-a', '--models', '*'], () => T0));
    const a2 = createdKey(await run(['create', '--store', store, '--workload', 'wl-a', '--agent', 'bot', '--models', '*'], () => T0));
    const b = createdKey(await run(['create', '--store', store, '--workload', 'wl-b', '--agent', 'bot', '--models', '*', '--owner', 'team-b'], () => T0));
    const out = await run(['revoke', '--store', store, '--workload', 'wl-a'], () => T0 + DAY);
    expect(out).toContain("revoked 2 key(s) of workload 'wl-a'");
    const state = (): Record<string, boolean> => Object.fromEntries(readKeyStoreFile(store).keys.map((k) => [k.id, k.revoked]));
    expect(state()).toEqual({ [a1.id]: true, [a2.id]: true, [b.id]: false });
    expect(readKeyStoreFile(store).keys.find((k) => k.id === a1.id)?.revoked_at).toBe(new Date(T0 + DAY).toISOString());
    // Again: nothing left to revoke, said plainly.
    expect(await run(['revoke', '--store', store, '--workload', 'wl-a'], () => T0)).toContain("no active key of workload 'wl-a' to revoke");
    expect(await run(['revoke', '--store', store, '--owner', 'team-b'], () => T0)).toContain(`revoked 1 key(s) of owner 'team-b': ${b.id}`);
    expect(state()[b.id]).toBe(true);
  });

  it('revokes by agent; --revocations also puts the identity on the revocation list', async () => {
    const dir = tempDir('ent');
    const store = path.join(dir, 'keys.json');
    const list = path.join(dir, 'revoked.json');
    const a = createdKey(await run(['create', '--store', store, '--workload', 'wl-a', '--agent', 'planner', '--models', '*'], () => T0));
    const b = createdKey(await run(['create', '--store', store, '--workload', 'wl-b', '--models', '*'], () => T0));
    const out = await run(['revoke', '--store', store, '--agent', 'planner', '--revocations', list], () => T0);
    expect(out).toContain(`revoked 1 key(s) of agent 'planner': ${a.id}`);
    expect(out).toContain('agent planner added to the revocation list');
    expect(readRevocationFile(list).revoked).toEqual([{ agent: 'planner', revoked_at: new Date(T0).toISOString() }]);
    expect(readKeyStoreFile(store).keys.find((k) => k.id === b.id)?.revoked).toBe(false);
    await expect(keys(['revoke', '--store', store, '--owner', 'x', '--revocations', list], sink().out)).rejects.toThrow(/an owner is not an identity/);
    await expect(keys(['revoke', '--store', store, '--workload', 'x', '--agent', 'y'], sink().out)).rejects.toThrow(/exactly one of/);
    await expect(keys(['revoke', '--store', store], sink().out)).rejects.toThrow(/exactly one of/);
  });
});

const PROVIDERS = `providers:
  - {name: openai, api: openai}
  - {name: anthropic, api: anthropic}
`;

describe('the identity carries its entitlement; the audit record flags an overdue review', () => {
  it('an API key: owner in the record, review_overdue false before the date and true after (default: only flagged)', async () => {
    const dir = tempDir('ent');
    const store = path.join(dir, 'keys.json');
    const { id, key } = createdKey(
      await run(['create', '--store', store, '--workload', 'wl', '--models', 'gpt-4o-mini', '--owner', 'team-data', '--approved-by', 'alice', '--review-in', '10d'], () => T0),
    );
    let clock = T0 + 9 * DAY;
    const rt = clockedRuntime(`${PROVIDERS}identity:\n  key_store: {file: keys.json}\n`, dir, () => clock);
    const { check, last } = checker(rt);
    expect((await check(chatRequest({ bearer: key }))).status.code).toBe(0);
    expect(last()).toMatchObject({ 'identity.credential_id': id, 'identity.owner': 'team-data', 'identity.review_overdue': false });
    clock = T0 + 11 * DAY;
    expect((await check(chatRequest({ bearer: key }))).status.code).toBe(0);
    expect(last()).toMatchObject({ 'decision.effect': 'allow', 'identity.owner': 'team-data', 'identity.review_overdue': true });
    await rt.close();
  });

  it('a key without a review date has no review_overdue field; without an owner, no identity.owner', async () => {
    const dir = tempDir('ent');
    const store = path.join(dir, 'keys.json');
    const { key } = createdKey(await run(['create', '--store', store, '--workload', 'wl', '--models', '*'], () => T0));
    const rt = clockedRuntime(`${PROVIDERS}identity:\n  key_store: {file: keys.json}\n`, dir, () => T0);
    const { check, last } = checker(rt);
    await check(chatRequest({ bearer: key }));
    expect(last()['decision.effect']).toBe('allow');
    expect(Object.keys(last())).not.toContain('identity.review_overdue');
    expect(Object.keys(last())).not.toContain('identity.owner');
    await rt.close();
  });

  it('a SPIFFE caller takes the first matching rule: its owner and review date, and its scopes bind', async () => {
    const dir = tempDir('ent');
    let clock = T0;
    const rt = clockedRuntime(
      `${PROVIDERS}identity:
  spiffe: {trust_domains: [prod.test]}
  entitlements:
    - id: jobs
      match: {method: spiffe, workload: "spiffe://prod.test/ns/jobs/*"}
      owner: team-jobs
      approved_by: erin
      approved_at: "2025-12-01T00:00:00Z"
      review_by: "2026-02-01T00:00:00Z"
      models: [gpt-4o-mini]
    - id: everyone-else
      match: {issuer: "spiffe://prod.test"}
      owner: platform
`,
      dir,
      () => clock,
    );
    const { check, last } = checker(rt);
    expect((await check(chatRequest({ principal: 'spiffe://prod.test/ns/jobs/sa/etl' }))).status.code).toBe(0);
    expect(last()).toMatchObject({ 'identity.method': 'spiffe', 'identity.owner': 'team-jobs', 'identity.review_overdue': false });
    // The rule's model scope binds like an API key's.
    await check(chatRequest({ principal: 'spiffe://prod.test/ns/jobs/sa/etl', model: 'gpt-4o' }));
    expect(last()).toMatchObject({ 'decision.effect': 'deny', 'decision.reason': 'model_not_allowed' });
    // Another workload falls through to the second rule, which grants no scope of its own.
    await check(chatRequest({ principal: 'spiffe://prod.test/ns/web/sa/api', model: 'gpt-4o' }));
    expect(last()).toMatchObject({ 'decision.effect': 'allow', 'identity.owner': 'platform' });
    expect(Object.keys(last())).not.toContain('identity.review_overdue');
    clock = Date.parse('2026-02-02T00:00:00Z');
    await check(chatRequest({ principal: 'spiffe://prod.test/ns/jobs/sa/etl' }));
    expect(last()).toMatchObject({ 'decision.effect': 'allow', 'identity.review_overdue': true });
    await rt.close();
  });

  it('a policy can deny an overdue review through identity.entitlement.*; recertifying lifts it', async () => {
    const dir = tempDir('ent');
    const store = path.join(dir, 'keys.json');
    const { id, key } = createdKey(await run(['create', '--store', store, '--workload', 'wl', '--models', '*', '--owner', 'team', '--review-in', '10d'], () => T0));
    const policies = path.join(dir, 'policies');
    mkdirSync(policies);
    writeFileSync(
      path.join(policies, 'rules.yaml'),
      `rules:
  - id: review-overdue
    effect: deny
    when: identity.entitlement.review_overdue
  - id: recorded-owners-only
    effect: allow
    when: identity.entitlement.recorded && identity.entitlement.owner == "team" && identity.entitlement.source == "api_key" && has(identity.entitlement.review_by) && identity.entitlement.review_by > now
`,
    );
    let clock = T0 + DAY;
    const rt = clockedRuntime(`${PROVIDERS}identity:\n  key_store: {file: keys.json, reload_interval_ms: 50}\npolicy: {dir: policies}\n`, dir, () => clock);
    const { check, last } = checker(rt);
    await check(chatRequest({ bearer: key }));
    expect(last()).toMatchObject({ 'decision.effect': 'allow', 'policy.rule': 'recorded-owners-only' });
    clock = T0 + 11 * DAY;
    await check(chatRequest({ bearer: key }));
    expect(last()).toMatchObject({ 'decision.effect': 'deny', 'decision.reason': 'denied_by_policy', 'policy.rule': 'review-overdue', 'identity.review_overdue': true });
    await run(['recertify', '--store', store, '--id', id, '--approved-by', 'alice', '--review-in', '90d'], () => clock);
    expect(readFileSync(store, 'utf8')).toContain('"approved_by": "alice"');
    // The store is re-read every 50 ms.
    await waitFor('the recertified key to be allowed', async () => ((await check(chatRequest({ bearer: key }))).status.code === 0 ? true : undefined), 5000, 50);
    expect(last()).toMatchObject({ 'decision.effect': 'allow', 'identity.review_overdue': false });
    await rt.close();
  });
});
