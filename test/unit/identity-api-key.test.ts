import { describe, expect, it } from 'vitest';
import { createApiKeyMethod, hashApiKey } from '../../src/identity/api-key.ts';
import { createIdentifier } from '../../src/identity/index.ts';
import { ctxOf, UNIT_KEY, UNIT_KEY_2, unitRuntime } from '../helpers/runtime.ts';

const identify = createIdentifier([
  createApiKeyMethod([
    { id: 'unit0001', hash: hashApiKey(UNIT_KEY), workload: 'wl-one', models: ['*'] },
    { id: 'unit0002', hash: hashApiKey(UNIT_KEY_2), workload: 'wl-two', agent: 'ag', models: ['gpt-4o'], providers: ['openai'] },
  ]),
]);

describe('scoped API keys', () => {
  it('authenticates a bearer key to its workload, with its scopes and public id', async () => {
    const r = await identify(ctxOf({ headers: { authorization: `Bearer ${UNIT_KEY_2}` } }));
    expect(r).toEqual({
      ok: true,
      value: {
        method: 'api_key',
        workload: 'wl-two',
        agent: 'ag',
        user: undefined,
        issuer: undefined,
        credentialId: 'unit0002',
        scopes: { models: ['gpt-4o'], providers: ['openai'] },
        methods: ['api_key'],
        claims: {},
        entitlement: { source: 'api_key', id: 'unit0002', reviewOverdue: false },
      },
    });
  });

  it('accepts the same key in x-api-key (Anthropic SDK style)', async () => {
    const r = await identify(ctxOf({ headers: { 'x-api-key': UNIT_KEY } }));
    expect(r.ok && r.value.workload).toBe('wl-one');
  });

  it.each([
    ['no credential', {}, 'no_credentials'],
    ['a wrong secret', { authorization: `Bearer ${UNIT_KEY.slice(0, -1)}y` }, 'invalid_credentials'],
    ['an unknown key id', { authorization: 'Bearer lla_zzzz9999_abcdefghijklmnopqrstuvwx' }, 'unknown_credentials'],
    ['a malformed key', { authorization: 'Bearer lla_x' }, 'malformed_credentials'],
    ['a non-bearer authorization', { authorization: `Basic ${UNIT_KEY}` }, 'malformed_credentials'],
    ['an empty x-api-key', { 'x-api-key': '' }, 'malformed_credentials'],
    ['two different keys', { authorization: `Bearer ${UNIT_KEY}`, 'x-api-key': UNIT_KEY_2 }, 'conflicting_credentials'],
    ['a repeated header (joined by Envoy)', { 'x-api-key': `${UNIT_KEY},${UNIT_KEY_2}` }, 'conflicting_credentials'],
    ['a repeated authorization (joined by Envoy), as docs/identity.md says', { authorization: `Bearer ${UNIT_KEY},Bearer ${UNIT_KEY_2}` }, 'conflicting_credentials'],
    ['the same key in a repeated authorization', { authorization: `Bearer ${UNIT_KEY},Bearer ${UNIT_KEY}` }, 'conflicting_credentials'],
    ['a token of another kind', { authorization: 'Bearer eyJhbGciOiJIUzI1NiJ9.e30.x' }, 'unknown_credentials'],
    ['a huge header', { authorization: `Bearer ${'a'.repeat(100_000)}` }, 'token_too_large'],
  ])('denies %s', async (_what, headers, reason) => {
    expect(await identify(ctxOf({ headers }))).toMatchObject({ ok: false, reason });
  });

  it('accepts the same key sent in both headers', async () => {
    const r = await identify(ctxOf({ headers: { authorization: `Bearer ${UNIT_KEY}`, 'x-api-key': UNIT_KEY } }));
    expect(r.ok).toBe(true);
  });

  it('stores and compares hashes only', () => {
    expect(hashApiKey(UNIT_KEY)).toMatch(/^sha256:[0-9a-f]{64}$/);
    expect(JSON.stringify(unitRuntime().config)).not.toContain(UNIT_KEY);
  });
});
