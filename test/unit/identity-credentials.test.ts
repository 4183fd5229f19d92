/**
 * The credential a request presents in the API-key headers: the bearer syntax exactly, spaces
 * around a key, the size limit at its boundary, one value in several headers. Cases a mutation
 * run showed no other test deciding.
 */
import { describe, expect, it } from 'vitest';
import { MAX_CREDENTIAL_LENGTH, presentedCredential } from '../../src/identity/credentials.ts';
import { identityCtx } from '../helpers/identity.ts';

const KEY = 'lla_chat0001_abcdefghijklmnopqrstuvwx';
const of = (headers: Record<string, string>) => presentedCredential(identityCtx({ headers }));

describe('presented credential', () => {
  it('reads a bearer token in any case, after any run of spaces, with spaces around the header value', () => {
    for (const v of [`Bearer ${KEY}`, `bearer ${KEY}`, `BEARER   ${KEY}`, `  Bearer ${KEY}  `]) {
      expect(of({ authorization: v }), v).toEqual({ kind: 'token', token: KEY, header: 'authorization' });
    }
  });

  it('refuses an authorization that is not exactly "Bearer <one token>"', () => {
    for (const v of [`xBearer ${KEY}`, `Bearer ${KEY} extra`, 'Bearer', `Basic ${KEY}`, KEY]) {
      expect(of({ authorization: v }), v).toEqual({ kind: 'malformed' });
    }
  });

  it('trims spaces around a key in x-api-key', () => {
    expect(of({ 'x-api-key': `  ${KEY} ` })).toEqual({ kind: 'token', token: KEY, header: 'x-api-key' });
  });

  it(`refuses a header value longer than ${MAX_CREDENTIAL_LENGTH} characters before parsing it, not one of exactly that length`, () => {
    expect(of({ 'x-api-key': 'a'.repeat(MAX_CREDENTIAL_LENGTH + 1) })).toEqual({ kind: 'too_large' });
    expect(of({ 'x-api-key': 'a'.repeat(MAX_CREDENTIAL_LENGTH) })).toEqual({ kind: 'token', token: 'a'.repeat(MAX_CREDENTIAL_LENGTH), header: 'x-api-key' });
  });

  it('one value in several headers is one credential; two values are a conflict', () => {
    expect(of({ authorization: `Bearer ${KEY}`, 'x-api-key': KEY })).toEqual({ kind: 'token', token: KEY, header: 'authorization' });
    expect(of({ authorization: `Bearer ${KEY}`, 'x-api-key': `${KEY}x` })).toEqual({ kind: 'conflict' });
    expect(of({})).toEqual({ kind: 'none' });
  });
});
