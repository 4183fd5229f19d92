/**
 * How the identity phase combines its methods: which method names the identity (the listed ones
 * in `precedence` order, unlisted ones after), which method's scopes, claims, entitlement and
 * token subjects the identity takes, that workloads and agents must agree, that a deny for a
 * matched key names its holder, the refusal details, what `loaded()` counts, and that closing
 * the phase stops the key store's reloads. Cases no unit test decided.
 */
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { ConfigError } from '../../src/core/errors.ts';
import { hashApiKey } from '../../src/identity/api-key.ts';
import { atDecision, entitlementRecord } from '../../src/identity/entitlement.ts';
import { createIdentifier, createIdentifierFromConfig } from '../../src/identity/index.ts';
import { identitySchema } from '../../src/identity/schema.ts';
import type { Finding, IdentityMethod, IdentityMethodName, IdentityResult } from '../../src/identity/types.ts';
import { tempDir } from '../helpers/access.ts';
import { identityCtx } from '../helpers/identity.ts';

const WORKLOAD = 'spiffe://good.test/ns/apps/sa/chat';
const NOW = Date.parse('2026-06-01T00:00:00Z');

const finding = (method: IdentityMethodName, f: Partial<Finding> = {}): Finding => ({
  method,
  workload: WORKLOAD,
  agent: undefined,
  user: undefined,
  issuer: undefined,
  credentialId: undefined,
  scopes: undefined,
  claims: undefined,
  ...f,
});

/** A method that answers the same for every request; `closed` counts its close calls. */
function fixed(name: IdentityMethodName, result: IdentityResult): IdentityMethod & { closed: number } {
  const m = {
    name,
    closed: 0,
    authenticate: () => result,
    close: () => {
      m.closed++;
    },
  };
  return m;
}
const authenticated = (name: IdentityMethodName, f: Partial<Finding> = {}) => fixed(name, { kind: 'authenticated', identity: finding(name, f) });

const ctx = identityCtx({});

describe('precedence', () => {
  const methods = () => [
    authenticated('api_key', { credentialId: 'key1' }),
    authenticated('jwt', { issuer: 'https://idp.good.test' }),
    authenticated('spiffe', { issuer: 'spiffe://good.test' }),
  ];
  const primary = async (precedence?: IdentityMethodName[]) => {
    const out = await createIdentifier(methods(), precedence === undefined ? {} : { precedence })(ctx);
    if (!out.ok) throw new Error(out.reason);
    return [out.value.method, out.value.methods];
  };

  it('the listed methods come first, in the listed order; unlisted ones after, in their given order', async () => {
    expect(await primary(['spiffe', 'jwt'])).toEqual(['spiffe', ['spiffe', 'jwt', 'api_key']]);
    expect(await primary(['jwt'])).toEqual(['jwt', ['jwt', 'api_key', 'spiffe']]);
    expect(await primary()).toEqual(['api_key', ['api_key', 'jwt', 'spiffe']]);
  });
});

describe('merging what the methods found', () => {
  const entitlement = atDecision(entitlementRecord('api_key', 'key1', { owner: 'team-chat' }), NOW);

  it("takes scopes, claims and entitlement from the first method that has them, and every token's issuer and subject", async () => {
    const identify = createIdentifier(
      [
        authenticated('spiffe', { issuer: 'spiffe://good.test' }),
        authenticated('jwt', { issuer: 'https://idp.good.test', subject: 'svc-chat', claims: { sub: 'svc-chat' } }),
        authenticated('api_key', { credentialId: 'key1', scopes: { models: ['gpt-4o-mini'], providers: ['openai'] }, entitlement }),
      ],
      { precedence: ['spiffe', 'jwt', 'api_key'] },
    );
    const out = await identify(ctx);
    expect(out).toEqual({
      ok: true,
      value: {
        method: 'spiffe',
        workload: WORKLOAD,
        agent: undefined,
        user: undefined,
        issuer: 'spiffe://good.test',
        credentialId: undefined,
        scopes: { models: ['gpt-4o-mini'], providers: ['openai'] },
        methods: ['spiffe', 'jwt', 'api_key'],
        claims: { sub: 'svc-chat' },
        entitlement,
        tokenSubjects: [{ issuer: 'https://idp.good.test', subject: 'svc-chat' }],
      },
    });
  });

  it('a method without a token subject adds none', async () => {
    const out = await createIdentifier([authenticated('spiffe', { issuer: 'spiffe://good.test' })])(ctx);
    expect(out.ok && out.value.tokenSubjects).toBeUndefined();
  });

  it('denies methods naming different workloads or different agents, and credentials naming neither', async () => {
    const twoWorkloads = createIdentifier([authenticated('spiffe'), authenticated('api_key', { workload: 'spiffe://good.test/ns/apps/sa/other' })]);
    expect(await twoWorkloads(ctx)).toEqual({ ok: false, reason: 'conflicting_credentials', detail: 'the credentials name different workloads' });
    const twoAgents = createIdentifier([authenticated('jwt', { agent: 'planner' }), authenticated('api_key', { agent: 'coder' })]);
    expect(await twoAgents(ctx)).toEqual({ ok: false, reason: 'conflicting_credentials', detail: 'the credentials name different agents' });
    const nobody = createIdentifier([authenticated('jwt', { workload: undefined })]);
    expect(await nobody(ctx)).toEqual({ ok: false, reason: 'missing_claim', detail: 'the credentials name no workload' });
  });

  it('a deny for a key whose secret matched names its holder; one without a holder names nobody', async () => {
    const holder = finding('api_key', { credentialId: 'key1', agent: 'planner' });
    const revoked = createIdentifier([fixed('api_key', { kind: 'rejected', reason: 'revoked_credentials', detail: "key 'key1' is revoked", holder })]);
    const out = await revoked(ctx);
    expect(out).toMatchObject({
      ok: false,
      reason: 'revoked_credentials',
      detail: "key 'key1' is revoked",
      identity: { method: 'api_key', workload: WORKLOAD, agent: 'planner', credentialId: 'key1' },
    });
    const unknown = createIdentifier([fixed('api_key', { kind: 'rejected', reason: 'unknown_credentials' })]);
    expect(await unknown(ctx)).toEqual({ ok: false, reason: 'unknown_credentials' });
  });

  it('a bearer credential no method accepts is refused even when mTLS named the caller', async () => {
    const identify = createIdentifier([authenticated('spiffe', { issuer: 'spiffe://good.test' }), fixed('api_key', { kind: 'absent' })]);
    expect(await identify(identityCtx({ headers: { authorization: 'Bearer some-opaque-token-from-elsewhere' } }))).toEqual({
      ok: false,
      reason: 'unknown_credentials',
      detail: 'no identity method accepts this credential',
    });
  });

  it('close closes every method', () => {
    const methods = [authenticated('spiffe'), authenticated('api_key')];
    createIdentifier(methods).close?.();
    expect(methods.map((m) => m.closed)).toEqual([1, 1]);
  });
});

describe('the identity phase built from config', () => {
  beforeEach(() => {
    vi.useFakeTimers({ toFake: ['setInterval', 'clearInterval'] });
  });
  afterEach(() => {
    vi.useRealTimers();
  });

  const stored = (id: string) => ({ id, hash: hashApiKey(`lla_${id}_0123456789abcdef0123`), workload: WORKLOAD, models: ['*'], created_at: '2026-01-01T00:00:00Z' });
  const storeText = (...ids: string[]) => JSON.stringify({ version: 1, keys: ids.map(stored) });
  const inline = { id: 'inline1', hash: hashApiKey('lla_inline1_0123456789abcdef0123'), workload: WORKLOAD, models: ['*'] };
  const build = (config: unknown, dir: string) =>
    createIdentifierFromConfig(identitySchema.parse(config), { source: path.join(dir, 'llm-authz.yaml'), version: 'v1', baseDir: dir }, () => NOW);

  it('counts inline and stored keys, lists api_key only when there are keys, and stops reloading the store when closed', () => {
    const dir = tempDir('identity-loaded');
    writeFileSync(path.join(dir, 'keys.json'), storeText('key1', 'key2'));
    const spiffe = { trust_domains: ['good.test'] };
    expect(build({ spiffe }, dir).loaded?.()).toEqual({ apiKeys: 0, methods: ['spiffe'] });
    expect(build({ spiffe, api_keys: [inline] }, dir).loaded?.()).toEqual({ apiKeys: 1, methods: ['api_key', 'spiffe'] });
    const identify = build({ spiffe, api_keys: [inline], key_store: { file: 'keys.json', reload_interval_ms: 100 } }, dir);
    expect(identify.loaded?.()).toEqual({ apiKeys: 3, methods: ['api_key', 'spiffe'] });
    writeFileSync(path.join(dir, 'keys.json'), storeText('key1', 'key2', 'key3'));
    vi.advanceTimersByTime(100);
    expect(identify.loaded?.().apiKeys).toBe(4);
    identify.close?.();
    writeFileSync(path.join(dir, 'keys.json'), storeText('key1', 'key2', 'key3', 'key4'));
    vi.advanceTimersByTime(100);
    expect(identify.loaded?.().apiKeys).toBe(4);
    const storeOnly = build({ key_store: { file: 'keys.json', reload_interval_ms: 100 } }, dir);
    expect(storeOnly.loaded?.()).toEqual({ apiKeys: 4, methods: ['api_key'] });
    storeOnly.close?.();
  });

  it('a bad revocation list at start is a config error naming the file, with or without a key store', () => {
    const dir = tempDir('identity-bad-list');
    writeFileSync(path.join(dir, 'keys.json'), storeText('key1'));
    writeFileSync(path.join(dir, 'revoked.json'), '{"version": 1, "revoked": [');
    const problem = `identity.revocation_list.file: revocation list ${path.join(dir, 'revoked.json')}: not valid JSON`;
    for (const extra of [{}, { key_store: { file: 'keys.json' } }]) {
      let err: unknown;
      try {
        build({ revocation_list: { file: 'revoked.json' }, ...extra }, dir);
      } catch (e) {
        err = e;
      }
      expect(err).toBeInstanceOf(ConfigError);
      expect((err as ConfigError).problems).toEqual([problem]);
    }
  });
});
