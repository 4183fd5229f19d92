/** JWT bearer tokens: the attack set, the verified-token cache, and a JWKS URL that rotates and goes down. */
import { createHmac } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SignJWT, type JWTPayload } from 'jose';
import { createJwtVerifier, type JwtVerifier } from '../../src/identity/jwt.ts';
import { jwtSchema } from '../../src/identity/schema.ts';
import { nowS, signingKey, signToken, unsignedToken, type SigningKey } from '../helpers/identity.ts';
import { startJwksServer, type JwksServer } from '../helpers/jwks-server.ts';

const ISS = 'https://issuer.test';
const AUD = 'llm-authz';
const CLAIMS = ['iss', 'sub', 'aud'];

function verifierFor(jwks: object, extra: object = {}): JwtVerifier {
  return createJwtVerifier(jwtSchema.parse({ issuers: [{ issuer: ISS, audiences: [AUD], jwks, ...extra }] }), CLAIMS, '/', 'unit.yaml');
}

const b64 = (o: object): string => Buffer.from(JSON.stringify(o)).toString('base64url');

describe('JWT attack set', () => {
  let k1: SigningKey;
  let attacker: SigningKey;
  let attackerServer: JwksServer;
  let v: JwtVerifier;
  const claims = (extra: JWTPayload = {}): JWTPayload => ({ iss: ISS, aud: AUD, sub: 'wl', ...extra });

  beforeAll(async () => {
    k1 = await signingKey('k1');
    attacker = await signingKey('evil');
    attackerServer = await startJwksServer([attacker.publicJwk]);
    v = verifierFor({ keys: [k1.publicJwk] });
  });
  afterAll(() => attackerServer.close());

  it('accepts a well-formed token (the control case)', async () => {
    expect(await v.verify(await signToken(k1, claims()))).toMatchObject({ ok: true, finding: { workload: 'wl', issuer: ISS } });
  });

  it.each([
    ['alg none', async () => unsignedToken(claims()), 'unsupported_algorithm', 'the token algorithm is not allowed for this issuer'],
    [
      'HS256 signed with the RSA public key (JWK text)',
      async () => {
        const input = `${b64({ alg: 'HS256', typ: 'JWT', kid: 'k1' })}.${b64({ ...claims(), exp: nowS() + 600 })}`;
        return `${input}.${createHmac('sha256', k1.publicJwkText).update(input).digest('base64url')}`;
      },
      'unsupported_algorithm',
      'the token algorithm is not allowed for this issuer',
    ],
    [
      'HS256 signed with the RSA modulus',
      async () => {
        const input = `${b64({ alg: 'HS256', typ: 'JWT', kid: 'k1' })}.${b64({ ...claims(), exp: nowS() + 600 })}`;
        return `${input}.${createHmac('sha256', Buffer.from(k1.publicJwk.n ?? '', 'base64url'))
          .update(input)
          .digest('base64url')}`;
      },
      'unsupported_algorithm',
      'the token algorithm is not allowed for this issuer',
    ],
    ['kid path injection', async () => signToken(attacker, claims(), { kid: '../../../../dev/null' }), 'unknown_key', 'no key of the issuer matches the token'],
    ['kid URL injection', async () => signToken(attacker, claims(), { kid: 'ATTACKER_URL' }), 'unknown_key', 'no key of the issuer matches the token'],
    ['a jku header pointing at the attacker key set', async () => signToken(attacker, claims(), { jku: 'ATTACKER_URL' }), 'unknown_key', 'no key of the issuer matches the token'],
    ['an x5u header pointing at the attacker', async () => signToken(attacker, claims(), { x5u: 'ATTACKER_URL' }), 'unknown_key', 'no key of the issuer matches the token'],
    [
      'an embedded jwk header with the attacker key',
      async () => signToken(attacker, claims(), { jwk: attacker.publicJwk, kid: 'k1' }),
      'bad_signature',
      'the token signature does not verify',
    ],
    ['expired', async () => signToken(k1, claims({ exp: nowS() - 3600 })), 'expired_credentials', 'the token has expired'],
    ['nbf in the future (beyond the clock skew)', async () => signToken(k1, claims({ nbf: nowS() + 3600 })), 'not_yet_valid', 'the token is not valid yet (nbf)'],
    ['a wrong iss', async () => signToken(k1, claims({ iss: 'https://evil.test' })), 'unknown_issuer', 'the token issuer is not trusted'],
    ['a wrong aud', async () => signToken(k1, claims({ aud: 'another-service' })), 'wrong_audience', 'the token audience is not accepted'],
    ['no exp', async () => new SignJWT(claims() as never).setProtectedHeader({ alg: 'RS256', kid: 'k1' }).sign(k1.privateKey), 'missing_claim', "the token has no 'exp' claim"],
    ['oversized', async () => signToken(k1, claims({ pad: 'x'.repeat(9000) })), 'token_too_large', 'the token is larger than 8192 bytes'],
    [
      'an unknown crit header',
      async () =>
        new SignJWT({ ...claims(), exp: nowS() + 600 } as never)
          .setProtectedHeader({ alg: 'RS256', kid: 'k1', crit: ['x-unknown'], 'x-unknown': 1 } as never)
          .sign(k1.privateKey, { crit: { 'x-unknown': true } }),
      'malformed_credentials',
      'the token uses an unsupported feature',
    ],
    ['a signature from another key with the same kid', async () => signToken(await signingKey('k1'), claims()), 'bad_signature', 'the token signature does not verify'],
    ['garbage', async () => 'eyJ.garbage.token', 'malformed_credentials', 'the token is not a valid JWT'],
    [
      'non-UTF-8 bytes in the header part',
      async () => `${Buffer.from([0xff, 0xfe, 0x7b]).toString('base64url')}.${b64(claims())}.sig`,
      'malformed_credentials',
      'the token is not a valid JWT',
    ],
  ])('denies %s', async (_what, make, reason, detail) => {
    const token = (await make()).replaceAll('ATTACKER_URL', attackerServer.url);
    const before = attackerServer.hits();
    const r = await v.verify(token);
    expect(r).toEqual({ ok: false, reason, detail });
    if (!r.ok) expect(r.detail).not.toContain(token.split('.')[1] ?? '~');
    expect(attackerServer.hits()).toBe(before); // jku/x5u/kid URLs are never fetched
  });

  it('accepts nbf within the clock skew', async () => {
    expect((await v.verify(await signToken(k1, claims({ nbf: nowS() + 10 })))).ok).toBe(true);
  });

  it('refuses an algorithm outside the issuer allowlist', async () => {
    const es = verifierFor({ keys: [k1.publicJwk] }, { algorithms: ['ES256'] });
    expect(await es.verify(await signToken(k1, claims()))).toEqual({ ok: false, reason: 'unsupported_algorithm', detail: 'the token algorithm is not allowed for this issuer' });
  });

  it('rejects HS* algorithms and symmetric keys in the config', () => {
    expect(() => jwtSchema.parse({ issuers: [{ issuer: ISS, audiences: [AUD], algorithms: ['HS256'], jwks: { keys: [] } }] })).toThrow();
    expect(() => verifierFor({ keys: [{ kty: 'oct', k: 'c2VjcmV0' }] })).toThrow(/symmetric/);
  });
});

describe('verified-token cache', () => {
  it('verifies a token once and serves repeats from the cache until it expires', async () => {
    const k1 = await signingKey('k1');
    const v = verifierFor({ keys: [k1.publicJwk] });
    const token = await signToken(k1, { iss: ISS, aud: AUD, sub: 'wl' });
    for (let i = 0; i < 5; i++) expect((await v.verify(token)).ok).toBe(true);
    expect(v.stats()).toEqual({ verifications: 1, cacheHits: 4 });
  });

  it('never caches a failure', async () => {
    const k1 = await signingKey('k1');
    const v = verifierFor({ keys: [k1.publicJwk] });
    const token = await signToken(k1, { iss: ISS, aud: 'nope', sub: 'wl' });
    await v.verify(token);
    await v.verify(token);
    expect(v.stats()).toEqual({ verifications: 2, cacheHits: 0 });
  });
});

describe('JWKS from a URL', () => {
  let k1: SigningKey;
  let k2: SigningKey;
  let server: JwksServer;
  const claims = { iss: ISS, aud: AUD, sub: 'wl' };

  beforeAll(async () => {
    k1 = await signingKey('k1');
    k2 = await signingKey('k2');
    server = await startJwksServer([k1.publicJwk]);
  });
  afterAll(() => server.close());

  it('an unknown-kid flood fetches the URL at most once per cool-down', async () => {
    server.setKeys([k1.publicJwk]);
    const v = verifierFor({ url: server.url, cooldown_s: 60 });
    expect((await v.verify(await signToken(k1, claims))).ok).toBe(true);
    const before = server.hits();
    const flood = await Promise.all(Array.from({ length: 200 }, async (_, i) => v.verify(await signToken(k1, claims, { kid: `unknown-${i}` }))));
    expect(new Set(flood.map((r) => (r.ok ? 'ok' : r.reason)))).toEqual(new Set(['unknown_key']));
    expect(server.hits() - before).toBeLessThanOrEqual(1);
    v.close();
  });

  it('keeps serving cached keys while the URL is down, and fails closed for unknown keys', async () => {
    server.setKeys([k1.publicJwk]);
    server.setDown(false);
    const v = verifierFor({ url: server.url, cooldown_s: 0 });
    expect((await v.verify(await signToken(k1, claims))).ok).toBe(true);
    server.setDown(true);
    try {
      // A token never seen before, signed by a cached key: verified from the cached key set.
      expect((await v.verify(await signToken(k1, { ...claims, jti: 'new-one' }))).ok).toBe(true);
      expect(await v.verify(await signToken(k2, claims))).toMatchObject({ ok: false, reason: 'unknown_key' });
    } finally {
      server.setDown(false);
      v.close();
    }
  });

  it('accepts a new key after rotation and rejects the rotated-out key (even a cached token)', async () => {
    server.setKeys([k1.publicJwk]);
    const v = verifierFor({ url: server.url, cooldown_s: 0 });
    const old = await signToken(k1, claims);
    expect((await v.verify(old)).ok).toBe(true);
    server.setKeys([k2.publicJwk]);
    expect((await v.verify(await signToken(k2, claims))).ok).toBe(true);
    expect(await v.verify(old)).toMatchObject({ ok: false, reason: 'unknown_key' });
    v.close();
  });

  it('fails closed when the URL was never reachable', async () => {
    const dead = await startJwksServer([]);
    const url = dead.url;
    await dead.close();
    const v = verifierFor({ url, cooldown_s: 0, timeout_ms: 200 });
    expect(await v.verify(await signToken(k1, claims))).toMatchObject({ ok: false, reason: 'unknown_key' });
    v.close();
  });
});
