/**
 * The API-key method's answers that a mutation run (`npm run mutate`, src/identity/api-key.ts and
 * credentials.ts) showed no unit test deciding: a token with the llm-authz prefix that is not an
 * llm-authz key, a well-formed key whose id no store knows, the detail of a revoked or an expired
 * key's deny, and an authorization header that is not a bearer token. Each answer is a specific
 * reason; none may become an exception (an internal error) or an allow.
 */
import { describe, expect, it } from 'vitest';
import { createApiKeyMethod, hashApiKey } from '../../src/identity/api-key.ts';
import type { KeyStore, LoadedKey } from '../../src/identity/key-store.ts';
import { ctxOf, UNIT_KEY } from '../helpers/runtime.ts';

const NOW = Date.parse('2026-06-01T00:00:00Z');
const STORED = 'lla_stor0001_abcdefghijklmnopqrstuvwx';
const EXPIRED = 'lla_stor0002_abcdefghijklmnopqrstuvwx';

function storeOf(keys: LoadedKey[]): KeyStore {
  const byId = new Map(keys.map((k) => [k.id, k]));
  return { get: (id) => byId.get(id), generation: 1, size: byId.size, close: () => undefined };
}
const stored = (id: string, key: string, extra: Partial<LoadedKey>): LoadedKey =>
  ({ id, hash: hashApiKey(key), workload: `wl-${id}`, models: ['*'], created_at: '2026-01-01T00:00:00Z', expiresAtMs: undefined, ...extra }) as LoadedKey;

const method = createApiKeyMethod([{ id: 'unit0001', hash: hashApiKey(UNIT_KEY), workload: 'wl-one', models: ['*'] }], {
  store: storeOf([stored('stor0001', STORED, { revoked: true }), stored('stor0002', EXPIRED, { expiresAtMs: NOW })]),
  now: () => NOW,
});
const run = (headers: Record<string, string>) => method.authenticate(ctxOf({ headers }));

describe('API-key answers a mutation run found undecided', () => {
  it('a token with the lla_ prefix that is not an llm-authz key is malformed, and says so', () => {
    for (const token of ['lla_', 'lla_x_abcdefghijklmnopqrstuvwx', 'lla_unit0001_short', 'lla_unit0001']) {
      expect(run({ authorization: `Bearer ${token}` }), token).toEqual({ kind: 'rejected', reason: 'malformed_credentials', detail: 'not an llm-authz API key' });
    }
  });

  it('a well-formed key whose id no store knows is unknown_credentials', () => {
    expect(run({ 'x-api-key': 'lla_nope0001_abcdefghijklmnopqrstuvwx' })).toEqual({ kind: 'rejected', reason: 'unknown_credentials' });
  });

  it('a revoked and an expired key are denied with a detail that names the key (and only its public id)', () => {
    expect(run({ authorization: `Bearer ${STORED}` })).toMatchObject({ kind: 'rejected', reason: 'revoked_credentials', detail: "key 'stor0001' is revoked" });
    // expired from its expiry instant on
    expect(run({ authorization: `Bearer ${EXPIRED}` })).toMatchObject({ kind: 'rejected', reason: 'expired_credentials', detail: "key 'stor0002' has expired" });
    for (const r of [run({ authorization: `Bearer ${STORED}` }), run({ authorization: `Bearer ${EXPIRED}` })]) {
      expect(JSON.stringify(r)).not.toContain('abcdefghijklmnopqrstuvwx');
    }
  });

  it('an authorization header that is not a bearer token is malformed (not an exception)', () => {
    for (const value of ['Basic dXNlcjpwYXNz', 'Bearer', 'Bearer a b', UNIT_KEY]) {
      expect(run({ authorization: value }), value).toEqual({ kind: 'rejected', reason: 'malformed_credentials' });
    }
  });
});
