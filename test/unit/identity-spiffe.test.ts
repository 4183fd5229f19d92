/**
 * The SPIFFE method's own rules, beyond the shared suite: which sources the config turns on,
 * the peer certificate's SANs and dates (to the millisecond), size limits, the
 * x-forwarded-client-cert syntax (the last element, quoted values, case), and the SPIFFE ID
 * grammar. These cases are the ones a mutation run showed no other test deciding.
 */
import { X509Certificate } from 'node:crypto';
import { mkdtempSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { identitySchema } from '../../src/identity/schema.ts';
import { createSpiffeMethod } from '../../src/identity/spiffe.ts';
import { parseSpiffeId } from '../../src/identity/spiffe-id.ts';
import type { IdentityResult } from '../../src/identity/types.ts';
import { createPki, type Pki } from '../helpers/identity-pki.ts';
import { identityCtx, type CtxParams } from '../helpers/identity.ts';

const CHAT = 'spiffe://good.test/ns/apps/sa/chat';
const OTHER = 'spiffe://good.test/ns/apps/sa/other';

let pki: Pki;
const certs: Record<string, string> = {};

beforeAll(() => {
  pki = createPki(path.join(mkdtempSync(path.join(os.tmpdir(), 'identity-spiffe-')), 'pki'));
  certs['chat'] = pki.read(pki.client('chat', CHAT).cert);
  certs['two-ids'] = pki.read(pki.client('two-ids', CHAT, { san: `URI:${CHAT},URI:${OTHER}` }).cert);
  certs['dns-and-id'] = pki.read(pki.client('dns-and-id', CHAT, { san: `DNS:chat.apps.svc,URI:${CHAT}` }).cert);
  certs['dns-only'] = pki.read(pki.client('dns-only', CHAT, { san: 'DNS:chat.apps.svc' }).cert);
  certs['https-and-id'] = pki.read(pki.client('https-and-id', CHAT, { san: `URI:https://chat.example,URI:${CHAT}` }).cert);
}, 60_000);

type Spiffe = Partial<{ from_principal: boolean; from_certificate: boolean; trust_xfcc: boolean }>;
function method(cfg: Spiffe = {}, now: () => number = Date.now) {
  const config = identitySchema.parse({ spiffe: { trust_domains: ['good.test'], ...cfg } }).spiffe;
  if (config === undefined) throw new Error('no spiffe config');
  return createSpiffeMethod(config, now);
}
const run = (p: CtxParams, cfg: Spiffe = {}, now?: () => number): IdentityResult => method(cfg, now).authenticate(identityCtx(p)) as IdentityResult;
const workloadOf = (r: IdentityResult): string | undefined => (r.kind === 'authenticated' ? r.identity.workload : undefined);

describe('SPIFFE sources the config turns on', () => {
  it('reads the principal and the certificate by default', () => {
    expect(workloadOf(run({ principal: CHAT }))).toBe(CHAT);
    expect(workloadOf(run({ certificatePem: certs['chat']! }))).toBe(CHAT);
  });

  it('ignores the principal with from_principal: false, and the certificate with from_certificate: false', () => {
    expect(run({ principal: CHAT }, { from_principal: false })).toEqual({ kind: 'absent' });
    expect(workloadOf(run({ certificatePem: certs['chat']! }, { from_principal: false }))).toBe(CHAT);
    expect(run({ certificatePem: certs['chat']! }, { from_certificate: false })).toEqual({ kind: 'absent' });
    // A disagreeing source that is turned off cannot conflict.
    expect(workloadOf(run({ principal: OTHER, certificatePem: certs['chat']! }, { from_principal: false }))).toBe(CHAT);
  });

  it('reads x-forwarded-client-cert only with trust_xfcc', () => {
    const headers = { 'x-forwarded-client-cert': `URI=${CHAT}` };
    expect(run({ headers })).toEqual({ kind: 'absent' });
    expect(workloadOf(run({ headers }, { trust_xfcc: true }))).toBe(CHAT);
  });
});

describe('the peer certificate', () => {
  it('refuses a certificate with two SPIFFE IDs (an X509-SVID has exactly one)', () => {
    expect(run({ certificatePem: certs['two-ids']! })).toMatchObject({
      kind: 'rejected',
      reason: 'malformed_credentials',
      detail: 'the peer certificate has more than one SPIFFE ID',
    });
  });

  it('finds the SPIFFE ID among other SANs, and a certificate without one is no SPIFFE identity', () => {
    expect(workloadOf(run({ certificatePem: certs['dns-and-id']! }))).toBe(CHAT);
    expect(workloadOf(run({ certificatePem: certs['https-and-id']! }))).toBe(CHAT);
    expect(run({ certificatePem: certs['dns-only']! })).toEqual({ kind: 'absent' });
  });

  it('is outside its validity from validTo on (to the millisecond) and before validFrom', () => {
    const x = new X509Certificate(certs['chat']!);
    const from = Date.parse(x.validFrom);
    const to = Date.parse(x.validTo);
    const at = (t: number) => run({ certificatePem: certs['chat']! }, {}, () => t);
    expect(workloadOf(at(from))).toBe(CHAT);
    expect(workloadOf(at(to - 1))).toBe(CHAT);
    expect(at(to)).toMatchObject({ kind: 'rejected', reason: 'expired_credentials' });
    expect(at(from - 1)).toMatchObject({ kind: 'rejected', reason: 'expired_credentials' });
  });

  it('refuses a certificate over 64 KiB before parsing it, and says which', () => {
    const pem = (n: number) => `${'A'.repeat(n)}`;
    // URL-encoded PEM as Envoy sends it: the limit is on those characters.
    const over = run({ certificatePem: pem(64 * 1024 + 1) });
    expect(over).toMatchObject({ kind: 'rejected', reason: 'malformed_credentials', detail: 'the peer certificate is too large' });
    expect(run({ certificatePem: pem(64 * 1024) })).toMatchObject({ kind: 'rejected', reason: 'malformed_credentials', detail: 'the peer certificate cannot be parsed' });
  });
});

describe('x-forwarded-client-cert (trust_xfcc)', () => {
  const xfcc = (value: string) => run({ headers: { 'x-forwarded-client-cert': value } }, { trust_xfcc: true, from_principal: false });

  it('takes the URI of the last element: the one the nearest (trusted) proxy appended', () => {
    expect(workloadOf(xfcc(`URI=spiffe://evil.test/x,URI=${CHAT}`))).toBe(CHAT);
    expect(xfcc(`URI=${CHAT},URI=spiffe://evil.test/x`)).toMatchObject({ kind: 'rejected', reason: 'untrusted_domain' });
  });

  it('keeps commas and semicolons inside quoted values, and unquotes a quoted URI', () => {
    expect(workloadOf(xfcc(`By=spiffe://good.test/envoy;Hash=ab12;Subject="CN=a,O=b;c";URI=${CHAT}`))).toBe(CHAT);
    expect(workloadOf(xfcc(`URI=spiffe://evil.test/x,Subject="CN=a,URI=x;y";URI="${CHAT}"`))).toBe(CHAT);
    expect(workloadOf(xfcc(`Subject="a \\" , b";URI=${CHAT}`))).toBe(CHAT);
  });

  it('reads the key in any case and with spaces around, and skips parts without =', () => {
    expect(workloadOf(xfcc(`Hash=ab12; uri = ${CHAT}`))).toBe(CHAT);
    expect(workloadOf(xfcc(`noequals;URI=${CHAT}`))).toBe(CHAT);
  });

  it('is no SPIFFE identity without a spiffe:// URI, or when empty', () => {
    expect(xfcc('URI=https://chat.example;By=x')).toEqual({ kind: 'absent' });
    expect(xfcc('Hash=ab12')).toEqual({ kind: 'absent' });
    expect(xfcc('')).toEqual({ kind: 'absent' });
  });

  it('refuses a header over 64 KiB', () => {
    expect(xfcc(`URI=${CHAT};Hash=${'a'.repeat(64 * 1024)}`)).toMatchObject({ kind: 'rejected', reason: 'malformed_credentials', detail: 'x-forwarded-client-cert is too large' });
  });

  it('must agree with the other sources', () => {
    const r = run({ principal: OTHER, headers: { 'x-forwarded-client-cert': `URI=${CHAT}` } }, { trust_xfcc: true });
    expect(r).toMatchObject({ kind: 'rejected', reason: 'conflicting_credentials' });
  });
});

describe('SPIFFE IDs', () => {
  it('accepts a trust domain alone and an ID of exactly 2048 characters, not one longer', () => {
    expect(parseSpiffeId('spiffe://good.test')).toEqual({ trustDomain: 'good.test', path: '', id: 'spiffe://good.test' });
    const base = 'spiffe://good.test/';
    const at = (n: number) => `${base}${'a'.repeat(n - base.length)}`;
    expect(parseSpiffeId(at(2048))?.trustDomain).toBe('good.test');
    expect(parseSpiffeId(at(2049))).toBeUndefined();
  });

  it('splits the trust domain from the path', () => {
    expect(parseSpiffeId(CHAT)).toEqual({ trustDomain: 'good.test', path: '/ns/apps/sa/chat', id: CHAT });
    for (const bad of ['spiffe://', 'spiffe://good.test/', 'spiffe://good.test//x', 'spiffe://Good.test/x', 'spiffe://good.test/a/./b', 'https://good.test/x']) {
      expect(parseSpiffeId(bad), bad).toBeUndefined();
    }
  });
});
