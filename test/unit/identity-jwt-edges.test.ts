/**
 * JWT bearer tokens at the edges no other unit test decided: the size limit at its exact
 * boundary, the compact-JWS shape, a token without `iss`, the key id's type and length, a
 * mistyped `exp`, a malformed `crit`, a broken key in the issuer's set, the verified-token cache at the token's expiry (fake
 * clock), `max_age_s` in seconds, closing the verifier, and what the `jwt` method answers for
 * each kind of presented credential.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SignJWT, type JWTPayload } from 'jose';
import { createJwtMethod, createJwtVerifier, type JwtVerifier } from '../../src/identity/jwt.ts';
import { jwtSchema } from '../../src/identity/schema.ts';
import { identityCtx, nowS, signingKey, signToken, type SigningKey } from '../helpers/identity.ts';
import { startJwksServer, type JwksServer } from '../helpers/jwks-server.ts';

const ISS = 'https://issuer.test';
const AUD = 'llm-authz';
const claims = (extra: JWTPayload = {}): JWTPayload => ({ iss: ISS, aud: AUD, sub: 'wl', ...extra });
const b64 = (o: object): string => Buffer.from(JSON.stringify(o)).toString('base64url');

function verifierFor(jwks: object, extra: object = {}, now?: () => number): JwtVerifier {
  return createJwtVerifier(jwtSchema.parse({ issuers: [{ issuer: ISS, audiences: [AUD], jwks }], ...extra }), ['sub'], '/', 'unit.yaml', now);
}

let k1: SigningKey;
let v: JwtVerifier;

beforeAll(async () => {
  k1 = await signingKey('k1');
  v = verifierFor({ keys: [k1.publicJwk] });
});

describe('token checks before the signature', () => {
  it('max_token_bytes: a token of exactly that many bytes is verified, one byte more is token_too_large', async () => {
    const token = await signToken(k1, claims());
    const size = Buffer.byteLength(token);
    expect((await verifierFor({ keys: [k1.publicJwk] }, { max_token_bytes: size }).verify(token)).ok).toBe(true);
    expect(await verifierFor({ keys: [k1.publicJwk] }, { max_token_bytes: size - 1 }).verify(token)).toEqual({
      ok: false,
      reason: 'token_too_large',
      detail: `the token is larger than ${size - 1} bytes`,
    });
  });

  it('a token that is not three base64url parts is not a compact JWS', async () => {
    const token = await signToken(k1, claims());
    for (const bad of [`${token}=`, `${token}.`, `${token.replace('.', '.+')}`, ` ${token}`, 'eyJhbGciOiJSUzI1NiJ9.e30']) {
      expect(await v.verify(bad), bad.slice(0, 12)).toEqual({ ok: false, reason: 'malformed_credentials', detail: 'the token is not a compact JWS' });
    }
  });

  it('a token without a string iss is missing_claim', async () => {
    for (const iss of [undefined, 42]) {
      const token = await new SignJWT({ aud: AUD, sub: 'wl', exp: nowS() + 600, ...(iss === undefined ? {} : { iss }) } as never)
        .setProtectedHeader({ alg: 'RS256', kid: 'k1' })
        .sign(k1.privateKey);
      expect(await v.verify(token)).toEqual({ ok: false, reason: 'missing_claim', detail: "the token has no 'iss' claim" });
    }
  });

  it('key id: up to 256 characters, a string, or absent', async () => {
    const longKid = 'k'.repeat(256);
    const long = await signingKey(longKid);
    const withLong = verifierFor({ keys: [long.publicJwk, k1.publicJwk] });
    expect((await withLong.verify(await signToken(long, claims()))).ok).toBe(true);
    const refused = { ok: false, reason: 'malformed_credentials', detail: 'the token key id is not acceptable' };
    expect(await withLong.verify(await signToken(long, claims(), { kid: `${longKid}k` }))).toEqual(refused);
    // A number is not a key id; jose would ignore it and pick the issuer's only RS256 key.
    expect(await v.verify(await signToken(k1, claims(), { kid: 7 }))).toEqual(refused);
    // No kid at all: the issuer's key is found by its type and algorithm.
    expect((await v.verify(await signToken(k1, claims(), { kid: undefined }))).ok).toBe(true);
  });

  it('an exp that is not a number is invalid_credentials (present, so not missing)', async () => {
    expect(await v.verify(await signToken(k1, claims({ exp: 'tomorrow' as never })))).toEqual({
      ok: false,
      reason: 'invalid_credentials',
      detail: "the 'exp' claim is not valid",
    });
  });

  it('a crit header that is not a list is not a valid JWT', async () => {
    const token = `${b64({ alg: 'RS256', kid: 'k1', crit: 'x-unknown', 'x-unknown': 1 })}.${b64(claims({ exp: nowS() + 600 }))}.c2ln`;
    expect(await v.verify(token)).toEqual({ ok: false, reason: 'malformed_credentials', detail: 'the token is not a valid JWT' });
  });
  it("a broken key in the issuer's own set fails closed as invalid_credentials (the token's form is not blamed)", async () => {
    const broken = verifierFor({ keys: [{ ...k1.publicJwk, n: 'AA' }] });
    expect(await broken.verify(await signToken(k1, claims()))).toEqual({ ok: false, reason: 'invalid_credentials', detail: 'the token could not be verified' });
  });
});

describe('the verified-token cache and the clock', () => {
  it('serves a token from the cache until its exp, re-verifies it from exp on, and expires it after the clock skew', async () => {
    const t0 = nowS();
    const exp = t0 + 100;
    let clock = t0 * 1000;
    const cached = verifierFor({ keys: [k1.publicJwk] }, {}, () => clock);
    const token = await signToken(k1, claims({ iat: t0, exp }));
    expect((await cached.verify(token)).ok).toBe(true);
    clock = exp * 1000 - 1;
    expect((await cached.verify(token)).ok).toBe(true);
    expect(cached.stats()).toEqual({ verifications: 1, cacheHits: 1 });
    clock = exp * 1000; // the cache entry is gone; jose still accepts it within the 30 s skew
    expect((await cached.verify(token)).ok).toBe(true);
    expect(cached.stats()).toEqual({ verifications: 2, cacheHits: 1 });
    clock = (exp + 31) * 1000;
    expect(await cached.verify(token)).toEqual({ ok: false, reason: 'expired_credentials', detail: 'the token has expired' });
    expect(cached.stats()).toEqual({ verifications: 3, cacheHits: 1 });
  });

  it('answers a cached token at once (no promise), with the finding it verified', async () => {
    const token = await signToken(k1, claims());
    const fresh = verifierFor({ keys: [k1.publicJwk] });
    const first = fresh.verify(token);
    expect(first).toBeInstanceOf(Promise);
    const verified = await first;
    const again = fresh.verify(token);
    expect(again).not.toBeInstanceOf(Promise);
    expect(again).toEqual(verified);
    expect(verified).toMatchObject({ ok: true, finding: { method: 'jwt', workload: 'wl' } });
  });
});

describe('a JWKS URL through the verifier', () => {
  let server: JwksServer;
  beforeAll(async () => {
    server = await startJwksServer([k1.publicJwk]);
  });
  afterAll(() => server.close());

  it('max_age_s is seconds: a verification right after the first fetch fetches nothing', async () => {
    const before = server.hits();
    const remote = verifierFor({ url: server.url, cooldown_s: 0 });
    try {
      expect((await remote.verify(await signToken(k1, claims({ jti: 'a' })))).ok).toBe(true);
      expect(server.hits() - before).toBe(1);
      await new Promise((r) => setTimeout(r, 5));
      expect((await remote.verify(await signToken(k1, claims({ jti: 'b' })))).ok).toBe(true);
      // A refresh would be started by the verification above; give its request time to arrive.
      await new Promise((r) => setTimeout(r, 100));
      expect(server.hits() - before).toBe(1);
    } finally {
      remote.close();
    }
  });

  it("closing the jwt method stops its key sets' fetches", async () => {
    const remote = verifierFor({ url: server.url, cooldown_s: 0 });
    const method = createJwtMethod(remote);
    const bearer = async (kid: string) => identityCtx({ headers: { authorization: `Bearer ${await signToken(k1, claims(), { kid })}` } });
    const before = server.hits();
    expect(await method.authenticate(await bearer('k1'))).toMatchObject({ kind: 'authenticated' });
    expect(await method.authenticate(await bearer('unknown-1'))).toMatchObject({ kind: 'rejected', reason: 'unknown_key' });
    expect(server.hits() - before).toBe(2); // the load and the unknown kid's refresh
    method.close?.();
    expect(await method.authenticate(await bearer('unknown-2'))).toMatchObject({ kind: 'rejected', reason: 'unknown_key' });
    expect(server.hits() - before).toBe(2);
  });
});

describe('the jwt method', () => {
  const method = () => createJwtMethod(v);
  const auth = (headers: Record<string, string>) => method().authenticate(identityCtx({ headers }));

  it('is named jwt', () => {
    expect(method().name).toBe('jwt');
  });

  it('answers absent for no credential and for tokens that are not a compact JWS (API keys, JWE, opaque tokens)', async () => {
    for (const token of ['lla_abcd1234_abcdefghijklmnopqrstuvwx', 'abc.def.ghi', 'eyJhbGciOiJSUzI1NiJ9', 'eyJhbGciOiJSU0EtT0FFUCJ9.a.b.c.d']) {
      expect(await auth({ authorization: `Bearer ${token}` }), token).toEqual({ kind: 'absent' });
    }
    expect(await auth({})).toEqual({ kind: 'absent' });
  });

  it('rejects conflicting, oversized and malformed credential headers', async () => {
    const token = await signToken(k1, claims());
    expect(await auth({ authorization: `Bearer ${token}`, 'x-api-key': 'lla_abcd1234_abcdefghijklmnopqrstuvwx' })).toEqual({
      kind: 'rejected',
      reason: 'conflicting_credentials',
    });
    expect(await auth({ authorization: `Bearer ${'a'.repeat(70_000)}` })).toEqual({ kind: 'rejected', reason: 'token_too_large' });
    expect(await auth({ authorization: `Basic ${token}` })).toEqual({ kind: 'rejected', reason: 'malformed_credentials' });
  });

  it('authenticates a valid token and passes on the verifier refusal with its detail', async () => {
    expect(await auth({ authorization: `Bearer ${await signToken(k1, claims())}` })).toMatchObject({ kind: 'authenticated', identity: { method: 'jwt', workload: 'wl' } });
    expect(await auth({ authorization: `Bearer ${await signToken(k1, claims({ aud: 'other' }))}` })).toEqual({
      kind: 'rejected',
      reason: 'wrong_audience',
      detail: 'the token audience is not accepted',
    });
  });
});
