/**
 * The on-behalf-of header on its own: a bare JWT or a bearer token (any case, any spaces), an
 * empty, scheme-only or repeated header, a refusal that names the on-behalf-of token, and the user taken from
 * the token's subject or from a token-exchange token's user.
 */
import { beforeAll, describe, expect, it } from 'vitest';
import { createJwtVerifier } from '../../src/identity/jwt.ts';
import { createOnBehalfOf, type OnBehalfOf } from '../../src/identity/on-behalf-of.ts';
import { jwtSchema, ON_BEHALF_OF_HEADER } from '../../src/identity/schema.ts';
import { identityCtx, nowS, signingKey, signToken, type SigningKey } from '../helpers/identity.ts';

const ISS = 'https://issuer.test';
let k1: SigningKey;
let obo: OnBehalfOf;
const userOf = (value?: string) => obo.user(identityCtx({ headers: value === undefined ? {} : { [ON_BEHALF_OF_HEADER]: value } }));
const token = (claims: object) => signToken(k1, { iss: ISS, aud: 'llm-authz', ...claims });

beforeAll(async () => {
  k1 = await signingKey('k1');
  const verifier = createJwtVerifier(jwtSchema.parse({ issuers: [{ issuer: ISS, audiences: ['llm-authz'], jwks: { keys: [k1.publicJwk] } }] }), ['sub'], '/', 'unit.yaml');
  obo = createOnBehalfOf(ON_BEHALF_OF_HEADER, verifier);
});

describe('the on-behalf-of header', () => {
  it('no header: no user', async () => {
    expect(await userOf()).toEqual({ ok: true, value: undefined });
  });

  it('a bare JWT or a bearer token, in any case and with any spaces, names the user', async () => {
    const t = await token({ sub: 'bob' });
    for (const value of [t, `Bearer ${t}`, `bearer ${t}`, `BEARER  ${t}`, `Bearer\t${t}`]) {
      expect(await userOf(value), value.slice(0, 10)).toEqual({ ok: true, value: 'bob' });
    }
  });

  it('a token-exchange token names its user (sub), not its actor', async () => {
    expect(await userOf(await token({ sub: 'carol', act: { sub: 'agent-7' } }))).toEqual({ ok: true, value: 'carol' });
  });

  it('an empty, a scheme-only (`Bearer` without a token) or a repeated header is malformed: it must hold one JWT', async () => {
    const t = await token({ sub: 'bob' });
    const one = { ok: false, reason: 'malformed_credentials', detail: `the ${ON_BEHALF_OF_HEADER} header must hold one JWT` };
    for (const value of ['', '   ', `${t},${t}`, `Bearer ${t}, Bearer ${t}`, 'Bearer', 'Bearer ', 'bearer\t', ' BEARER  ']) {
      expect(await userOf(value), value.slice(0, 10)).toEqual(one);
    }
  });

  it('a token that does not verify denies with its reason, the detail naming the on-behalf-of token', async () => {
    expect(await userOf(await token({ sub: 'bob', exp: nowS() - 3600 }))).toEqual({
      ok: false,
      reason: 'expired_credentials',
      detail: 'on-behalf-of token: the token has expired',
    });
  });
});
