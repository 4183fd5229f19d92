/**
 * The SPIFFE method's refusals with their exact details (expired, disagreeing sources, an invalid
 * ID, an untrusted domain), and the x-forwarded-client-cert edges: trusted but absent, exactly
 * 64 KiB, a part named like `URI` without `=`, quotes that do not enclose the whole URI. Cases no unit test
 * decided.
 */
import { X509Certificate } from 'node:crypto';
import { mkdtempSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { identitySchema } from '../../src/identity/schema.ts';
import { createSpiffeMethod } from '../../src/identity/spiffe.ts';
import type { IdentityResult } from '../../src/identity/types.ts';
import { createPki } from '../helpers/identity-pki.ts';
import { identityCtx, type CtxParams } from '../helpers/identity.ts';

const CHAT = 'spiffe://good.test/ns/apps/sa/chat';
const OTHER = 'spiffe://good.test/ns/apps/sa/other';

let chatPem = '';
beforeAll(() => {
  const pki = createPki(path.join(mkdtempSync(path.join(os.tmpdir(), 'identity-spiffe-edges-')), 'pki'));
  chatPem = pki.read(pki.client('chat', CHAT).cert);
}, 60_000);

type Spiffe = Partial<{ from_principal: boolean; from_certificate: boolean; trust_xfcc: boolean }>;
function run(p: CtxParams, cfg: Spiffe = {}, now: () => number = Date.now): IdentityResult {
  const config = identitySchema.parse({ spiffe: { trust_domains: ['good.test'], ...cfg } }).spiffe;
  if (config === undefined) throw new Error('no spiffe config');
  return createSpiffeMethod(config, now).authenticate(identityCtx(p)) as IdentityResult;
}
const workloadOf = (r: IdentityResult): string | undefined => (r.kind === 'authenticated' ? r.identity.workload : undefined);

describe('SPIFFE refusals and their details', () => {
  it('names each refusal exactly', () => {
    const after = Date.parse(new X509Certificate(chatPem).validTo);
    expect(run({ certificatePem: chatPem }, {}, () => after)).toEqual({
      kind: 'rejected',
      reason: 'expired_credentials',
      detail: 'the peer certificate is outside its validity period',
    });
    expect(run({ principal: OTHER, certificatePem: chatPem })).toEqual({
      kind: 'rejected',
      reason: 'conflicting_credentials',
      detail: 'the SPIFFE IDs of the connection disagree',
    });
    expect(run({ principal: 'spiffe://good.test/ns/../chat' })).toEqual({ kind: 'rejected', reason: 'malformed_credentials', detail: 'the peer SPIFFE ID is not valid' });
    expect(run({ principal: 'spiffe://evil.test/ns/apps/sa/chat' })).toEqual({ kind: 'rejected', reason: 'untrusted_domain', detail: "trust domain 'evil.test' is not trusted" });
  });
});

describe('x-forwarded-client-cert edges', () => {
  const xfcc = (value: string) => run({ headers: { 'x-forwarded-client-cert': value } }, { trust_xfcc: true, from_principal: false });

  it('trusted but absent: the other sources decide', () => {
    expect(workloadOf(run({ principal: CHAT }, { trust_xfcc: true }))).toBe(CHAT);
    expect(run({}, { trust_xfcc: true })).toEqual({ kind: 'absent' });
  });

  it('accepts a header of exactly 64 KiB', () => {
    const head = `URI=${CHAT};Hash=`;
    expect(workloadOf(xfcc(head + 'a'.repeat(64 * 1024 - head.length)))).toBe(CHAT);
  });

  it('skips a part without = even when its name starts like URI', () => {
    expect(workloadOf(xfcc(`URIs;URI=${CHAT}`))).toBe(CHAT);
  });

  it('unquotes a URI only when the quotes enclose all of it', () => {
    expect(xfcc(`URI="${CHAT}"/x`)).toEqual({ kind: 'absent' });
    expect(xfcc(`URI=${CHAT}"q"`)).toEqual({ kind: 'rejected', reason: 'malformed_credentials', detail: 'the peer SPIFFE ID is not valid' });
  });
});
