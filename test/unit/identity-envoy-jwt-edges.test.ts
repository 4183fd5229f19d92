/**
 * The envoy_jwt method at the edges no unit test decided: no payload in the metadata, a null
 * payload, the issuer and expiry refusals with their details, `exp` at its exact boundary
 * (60 s after it, on a fake clock), and a claim-mapping refusal passed on as a refusal.
 */
import { describe, expect, it } from 'vitest';
import { createEnvoyJwtMethod } from '../../src/identity/envoy-jwt.ts';
import { envoyJwtSchema } from '../../src/identity/schema.ts';
import type { JsonValue } from '../../src/core/struct.ts';
import { identityCtx } from '../helpers/identity.ts';

const ISS = 'https://issuer.test';
const NS = 'envoy.filters.http.jwt_authn';
const T0 = 1_800_000_000; // seconds
let clock = T0 * 1000;
const method = createEnvoyJwtMethod(envoyJwtSchema.parse({ issuers: [{ issuer: ISS }] }), ['sub'], () => clock);
const withPayload = (payload: JsonValue) => method.authenticate(identityCtx({ metadata: { [NS]: { jwt_payload: payload } } }));

describe('the envoy_jwt method', () => {
  it('is named envoy_jwt', () => {
    expect(method.name).toBe('envoy_jwt');
  });

  it('no payload in the metadata is absent', async () => {
    expect(await method.authenticate(identityCtx({}))).toEqual({ kind: 'absent' });
    expect(await method.authenticate(identityCtx({ metadata: { [NS]: { other_key: { iss: ISS, sub: 'wl' } } } }))).toEqual({ kind: 'absent' });
  });

  it('a payload that is not an object (null included) is malformed', async () => {
    const malformed = { kind: 'rejected', reason: 'malformed_credentials', detail: 'the verified JWT payload from Envoy is not an object' };
    for (const payload of [null, 'not-an-object', ['a'], 7]) {
      expect(await withPayload(payload), JSON.stringify(payload)).toEqual(malformed);
    }
  });

  it('an issuer the config does not accept, or none, is unknown_issuer', async () => {
    const unknown = { kind: 'rejected', reason: 'unknown_issuer', detail: 'the Envoy-verified token issuer is not accepted' };
    expect(await withPayload({ iss: 'https://elsewhere.test', sub: 'wl' })).toEqual(unknown);
    expect(await withPayload({ sub: 'wl' })).toEqual(unknown);
  });

  it('exp: accepted until 60 s after it, expired from then on', async () => {
    clock = (T0 + 60) * 1000 - 1;
    expect(await withPayload({ iss: ISS, sub: 'wl', exp: T0 })).toMatchObject({ kind: 'authenticated', identity: { method: 'envoy_jwt', workload: 'wl', issuer: ISS } });
    clock = (T0 + 60) * 1000;
    expect(await withPayload({ iss: ISS, sub: 'wl', exp: T0 })).toEqual({ kind: 'rejected', reason: 'expired_credentials', detail: 'the Envoy-verified token has expired' });
    clock = T0 * 1000;
  });

  it('a payload the claim mapping refuses is a refusal with its reason and detail', async () => {
    expect(await withPayload({ iss: ISS, exp: T0 + 600 })).toEqual({ kind: 'rejected', reason: 'missing_claim', detail: "the token has no 'sub' claim" });
  });
});
