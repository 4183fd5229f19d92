/**
 * Token payloads to workload, agent and user, with the cases no unit test decided: which claim
 * values name someone (a non-empty string of at most 512 characters), a token-exchange `act`
 * without a usable actor or a token without a subject, a workload claim other than `sub` beside
 * `act`, the credential id from `jti`, the SPIFFE checks' details, a null on a dotted path, and
 * the allowlisted claims reduced to bounded plain JSON (64 items, 64 keys, 8 levels).
 */
import { describe, expect, it } from 'vitest';
import { claimAt, findingFromPayload, reduceClaims, type Payload } from '../../src/identity/claims.ts';
import { jwtIssuerSchema } from '../../src/identity/schema.ts';

const ISS = 'https://issuer.test';
const mapping = (extra: object = {}) => jwtIssuerSchema.parse({ issuer: ISS, audiences: ['llm-authz'], jwks: { keys: [] }, ...extra });
const find = (payload: Payload, extra: object = {}) => findingFromPayload('jwt', payload, ISS, mapping(extra), []);

describe('who a payload names', () => {
  it('a name is a non-empty string of at most 512 characters', () => {
    expect(find({ sub: 'w'.repeat(512) })).toMatchObject({ ok: true, finding: { workload: 'w'.repeat(512) } });
    for (const sub of ['', 'w'.repeat(513), 42, true, null, ['wl'], { name: 'wl' }]) {
      expect(find({ sub }), JSON.stringify(sub).slice(0, 20)).toEqual({ ok: false, reason: 'missing_claim', detail: "the token has no 'sub' claim" });
    }
    expect(find({ sub: 'wl' }, { workload_claim: 'kubernetes.io.serviceaccount.name' })).toEqual({
      ok: false,
      reason: 'missing_claim',
      detail: "the token has no 'kubernetes.io.serviceaccount.name' claim",
    });
  });

  it('agent and user claims follow the same rule (an unusable value names no one)', () => {
    const r = find({ sub: 'wl', azp: '', email: 'u'.repeat(513) }, { agent_claim: 'azp', user_claim: 'email' });
    expect(r).toMatchObject({ ok: true, finding: { workload: 'wl', agent: undefined, user: undefined } });
  });

  it('a null on the way down a dotted claim name is no claim, not an error', () => {
    expect(claimAt({ 'kubernetes.io': null }, 'kubernetes.io.serviceaccount.name')).toBeUndefined();
    expect(find({ sub: 'wl', 'kubernetes.io': null }, { workload_claim: 'kubernetes.io.serviceaccount.name' })).toMatchObject({ ok: false, reason: 'missing_claim' });
  });

  it('an act claim must name its actor with a non-empty string', () => {
    const noActor = { ok: false, reason: 'missing_claim', detail: "the 'act' claim names no actor (act.sub)" };
    for (const act of [{}, { sub: '' }, { sub: 7 }, { iss: ISS }]) {
      expect(find({ sub: 'alice', act }), JSON.stringify(act)).toEqual(noActor);
    }
  });

  it('a token-exchange token must name its subject', () => {
    expect(find({ act: { sub: 'agent-7' } })).toEqual({ ok: false, reason: 'missing_claim', detail: "the token names no subject ('sub')" });
    expect(find({ sub: '', act: { sub: 'agent-7' } })).toEqual({ ok: false, reason: 'missing_claim', detail: "the token names no subject ('sub')" });
  });

  it('a token-exchange token with another workload claim keeps workload, agent and user apart', () => {
    expect(find({ sub: 'alice', act: { sub: 'agent-7' }, client_id: 'chat' }, { workload_claim: 'client_id' })).toMatchObject({
      ok: true,
      finding: { workload: 'chat', agent: 'agent-7', user: 'alice', subject: 'alice' },
    });
    // With the default workload claim (sub, the user here) the workload is left to the actor.
    expect(find({ sub: 'alice', act: { sub: 'agent-7' } })).toMatchObject({ ok: true, finding: { workload: undefined, agent: 'agent-7', user: 'alice' } });
  });

  it('jti is the credential id', () => {
    expect(find({ sub: 'wl', jti: 'token-17' })).toMatchObject({ ok: true, finding: { credentialId: 'token-17', issuer: ISS, method: 'jwt' } });
    expect(find({ sub: 'wl' })).toMatchObject({ ok: true, finding: { credentialId: undefined } });
  });

  it('SPIFFE trust domains: the refusal says what is wrong', () => {
    const domains = { spiffe_trust_domains: ['good.test'] };
    expect(find({ sub: 'spiffe://good.test/ns/a/sa/b' }, domains)).toMatchObject({ ok: true, finding: { workload: 'spiffe://good.test/ns/a/sa/b' } });
    expect(find({ sub: 'not-a-spiffe-id' }, domains)).toEqual({ ok: false, reason: 'malformed_credentials', detail: 'the token subject is not a SPIFFE ID' });
    expect(find({ sub: 'spiffe://evil.test/ns/a/sa/b' }, domains)).toEqual({ ok: false, reason: 'untrusted_domain', detail: "trust domain 'evil.test' is not trusted" });
  });
});

describe('allowlisted claims as bounded plain JSON', () => {
  const nest = (n: number, wrap: (x: unknown) => unknown, leaf: unknown): unknown => (n === 0 ? leaf : wrap(nest(n - 1, wrap, leaf)));

  it('keeps null, booleans, numbers and strings as they are', () => {
    const payload = { n: null, t: true, f: false, zero: 0, num: 3.5, s: 'x' };
    expect(reduceClaims(payload, Object.keys(payload))).toStrictEqual(payload);
    expect(reduceClaims({ a: { n: null, f: false, zero: 0 } }, ['a'])).toStrictEqual({ a: { n: null, f: false, zero: 0 } });
  });

  it('leaves out allowlisted claims the token does not have (no key at all)', () => {
    expect(reduceClaims({ sub: 'wl' }, ['sub', 'email', 'groups'])).toStrictEqual({ sub: 'wl' });
  });

  it('keeps the first 64 items of a list and the first 64 keys of an object', () => {
    const list = Array.from({ length: 70 }, (_, i) => i);
    const obj = Object.fromEntries(Array.from({ length: 70 }, (_, i) => [`k${i}`, i]));
    const r = reduceClaims({ list, obj, nested: [list] }, ['list', 'obj', 'nested']);
    expect(r).toStrictEqual({ list: list.slice(0, 64), obj: Object.fromEntries(Object.entries(obj).slice(0, 64)), nested: [list.slice(0, 64)] });
  });

  it('cuts objects and lists below 8 levels of nesting (a cut list item reads null, a cut object key is left out)', () => {
    const objects = nest(12, (x) => ({ a: x }), {});
    expect(reduceClaims({ deep: objects }, ['deep'])).toStrictEqual({ deep: nest(8, (x) => ({ a: x }), {}) });
    const lists = nest(12, (x) => [x], []);
    expect(reduceClaims({ deep: lists }, ['deep'])).toStrictEqual({ deep: nest(8, (x) => [x], [null]) });
    // Scalars at the cut level are still kept: only containers count as levels.
    expect(reduceClaims({ deep: nest(9, (x) => ({ a: x }), 'leaf') }, ['deep'])).toStrictEqual({ deep: nest(9, (x) => ({ a: x }), 'leaf') });
  });
});
