/**
 * One shared suite, run against every identity method: each method supplies the request for
 * each case (valid, expired, not for us, revoked, malformed, ...), or says in writing why the
 * case does not apply to it. The expectations are the same for all methods.
 */
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { ROOT } from '../../devstack/tools.ts';
import { hashApiKey } from '../../src/identity/api-key.ts';
import { createIdentifierFromConfig, type Identify } from '../../src/identity/index.ts';
import { identitySchema } from '../../src/identity/schema.ts';
import type { DenyReason } from '../../src/core/reasons.ts';
import { createPki } from '../helpers/identity-pki.ts';
import { identityCtx, nowS, signingKey, signToken, type CtxParams } from '../helpers/identity.ts';

type CaseName = 'valid' | 'absent' | 'expired' | 'not_yet_valid' | 'not_for_us' | 'revoked' | 'malformed' | 'tampered' | 'conflicting' | 'oversized';

/** What every method must answer for each case. */
const EXPECTED: Record<Exclude<CaseName, 'valid'>, DenyReason | DenyReason[]> = {
  absent: 'no_credentials',
  expired: 'expired_credentials',
  // A token's nbf; a certificate outside its validity period is expired_credentials (docs/identity.md).
  not_yet_valid: ['not_yet_valid', 'expired_credentials'],
  not_for_us: ['wrong_audience', 'untrusted_domain', 'unknown_issuer', 'unknown_credentials'],
  revoked: 'revoked_credentials',
  malformed: 'malformed_credentials',
  tampered: ['bad_signature', 'invalid_credentials'],
  conflicting: 'conflicting_credentials',
  oversized: ['token_too_large', 'malformed_credentials'],
};
const CASES = Object.keys(EXPECTED) as Exclude<CaseName, 'valid'>[];

interface MethodUnderTest {
  readonly name: string;
  /** The identity method it establishes (default: name). */
  readonly method?: string;
  readonly identify: Identify;
  readonly workload: string;
  /** The secret the request carries (must never appear in the identity). */
  readonly secret: string;
  readonly requests: Partial<Record<CaseName, CtxParams>>;
  /**
   * Why a case does not apply. A note that says where it is proved instead names the test as
   * `(test/....test.ts: 'title')`; the table check below holds it to that.
   */
  readonly notApplicable: Partial<Record<CaseName, string>>;
}

const methods: MethodUnderTest[] = [];
const build = (cfg: unknown, dir: string): Identify => createIdentifierFromConfig(identitySchema.parse(cfg), { source: 'unit.yaml', version: 'v', baseDir: dir });

beforeAll(async () => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'identity-suite-'));

  // --- api_key: a key store file with an active, an expired and a revoked key
  const key = (id: string): string => `lla_${id}_${'s'.repeat(8)}${id}${'x'.repeat(16)}`;
  const stored = (id: string, extra: object): object => ({ id, hash: hashApiKey(key(id)), workload: 'wl-key', models: ['*'], created_at: new Date().toISOString(), ...extra });
  writeFileSync(
    path.join(dir, 'keys.json'),
    JSON.stringify({
      version: 1,
      keys: [stored('active01', {}), stored('expired1', { expires_at: new Date(Date.now() - 1000).toISOString() }), stored('revoked1', { revoked: true })],
    }),
  );
  const apiKey = build({ key_store: { file: 'keys.json' } }, dir);
  methods.push({
    name: 'api_key',
    identify: apiKey,
    workload: 'wl-key',
    secret: key('active01'),
    requests: {
      valid: { headers: { authorization: `Bearer ${key('active01')}` } },
      absent: {},
      expired: { headers: { authorization: `Bearer ${key('expired1')}` } },
      not_for_us: { headers: { authorization: `Bearer ${key('unknown1')}` } },
      revoked: { headers: { authorization: `Bearer ${key('revoked1')}` } },
      malformed: { headers: { authorization: 'Bearer lla_!!' } },
      tampered: { headers: { authorization: `Bearer ${key('active01').slice(0, -1)}y` } },
      conflicting: { headers: { authorization: `Bearer ${key('active01')}`, 'x-api-key': key('expired1') } },
      oversized: { headers: { authorization: `Bearer lla_${'a'.repeat(70_000)}` } },
    },
    notApplicable: { not_yet_valid: 'a key is valid from its creation; the store has no start date' },
  });
  // The same keys in the headers the Azure OpenAI and Gemini SDKs use.
  for (const [header, other] of [
    ['api-key', 'x-goog-api-key'],
    ['x-goog-api-key', 'authorization'],
  ] as const) {
    const inOther = (v: string): Record<string, string> => ({ [other]: other === 'authorization' ? `Bearer ${v}` : v });
    methods.push({
      name: `api_key in ${header}`,
      method: 'api_key',
      identify: apiKey,
      workload: 'wl-key',
      secret: key('active01'),
      requests: {
        valid: { headers: { [header]: key('active01'), ...inOther(key('active01')) } },
        absent: { headers: { 'x-goog-api': key('active01') } },
        expired: { headers: { [header]: key('expired1') } },
        not_for_us: { headers: { [header]: key('unknown1') } },
        revoked: { headers: { [header]: key('revoked1') } },
        malformed: { headers: { [header]: 'lla_!!' } },
        tampered: { headers: { [header]: `${key('active01').slice(0, -1)}y` } },
        conflicting: { headers: { [header]: key('active01'), ...inOther(key('expired1')) } },
        oversized: { headers: { [header]: `lla_${'a'.repeat(70_000)}` } },
      },
      notApplicable: { not_yet_valid: 'a key is valid from its creation; the store has no start date' },
    });
  }

  // The same keys as the Bedrock and Vertex AI clients send them: a bearer token (a Bedrock API
  // key, a Google access token) beside their own headers. A client's SigV4 signature carries no
  // secret llm-authz can check (malformed); its session token header is not where a key is read.
  const sigv4 = (keyId: string): string =>
    `AWS4-HMAC-SHA256 Credential=${keyId}/20250101/us-east-1/bedrock/aws4_request, SignedHeaders=host;x-amz-date, Signature=${'a'.repeat(64)}`;
  const cloudHeaders = { 'x-amz-date': '20250101T000000Z', 'amz-sdk-invocation-id': 'inv-1', 'x-goog-user-project': 'acme-prod' };
  methods.push({
    name: 'api_key from the Bedrock and Vertex AI SDKs',
    method: 'api_key',
    identify: apiKey,
    workload: 'wl-key',
    secret: key('active01'),
    requests: {
      valid: { headers: { authorization: `Bearer ${key('active01')}`, ...cloudHeaders } },
      absent: { headers: { 'x-amz-security-token': key('active01'), ...cloudHeaders } },
      expired: { headers: { authorization: `Bearer ${key('expired1')}`, ...cloudHeaders } },
      not_for_us: { headers: { authorization: `Bearer ${key('unknown1')}`, ...cloudHeaders } },
      revoked: { headers: { authorization: `Bearer ${key('revoked1')}`, ...cloudHeaders } },
      malformed: { headers: { authorization: sigv4('AKIACLIENT0000000001'), ...cloudHeaders } },
      tampered: { headers: { authorization: `Bearer ${key('active01').slice(0, -1)}y`, ...cloudHeaders } },
      conflicting: { headers: { authorization: `Bearer ${key('active01')}`, 'x-goog-api-key': key('expired1'), ...cloudHeaders } },
      oversized: { headers: { authorization: sigv4('A'.repeat(70_000)), ...cloudHeaders } },
    },
    notApplicable: { not_yet_valid: 'a key is valid from its creation; the store has no start date' },
  });

  // --- jwt: inline keys
  const k1 = await signingKey('k1');
  const other = await signingKey('k1'); // same kid, another key: a forged signature
  const iss = 'https://issuer.test';
  const jwt = build({ jwt: { issuers: [{ issuer: iss, audiences: ['llm-authz'], jwks: { keys: [k1.publicJwk] } }] } }, dir);
  const tok = (claims: object, k = k1): Promise<string> => signToken(k, { iss, aud: 'llm-authz', sub: 'wl-jwt', ...claims });
  const valid = await tok({});
  methods.push({
    name: 'jwt',
    identify: jwt,
    workload: 'wl-jwt',
    secret: valid,
    requests: {
      valid: { headers: { authorization: `Bearer ${valid}` } },
      absent: {},
      expired: { headers: { authorization: `Bearer ${await tok({ exp: nowS() - 3600 })}` } },
      not_yet_valid: { headers: { authorization: `Bearer ${await tok({ nbf: nowS() + 3600 })}` } },
      not_for_us: { headers: { authorization: `Bearer ${await tok({ aud: 'someone-else' })}` } },
      malformed: { headers: { authorization: 'Bearer eyJhbGciOiJSUzI1NiJ9.!!!.abc' } },
      tampered: { headers: { authorization: `Bearer ${await tok({}, other)}` } },
      conflicting: { headers: { authorization: `Bearer ${valid}`, 'x-api-key': await tok({ sub: 'x' }) } },
      oversized: { headers: { authorization: `Bearer ${await tok({ pad: 'p'.repeat(10_000) })}` } },
    },
    notApplicable: {
      revoked:
        "JWTs are not revocable here: they are short-lived (exp) and the issuer rotates keys (test/unit/identity-jwt.test.ts: 'accepts a new key after rotation and rejects the rotated-out key (even a cached token)')",
    },
  });

  // --- envoy_jwt: payloads that Envoy verified
  const envoy = build({ envoy_jwt: { issuers: [{ issuer: iss }] } }, dir);
  const meta = (payload: Record<string, unknown>): CtxParams => ({ metadata: { 'envoy.filters.http.jwt_authn': { jwt_payload: payload as never } } });
  methods.push({
    name: 'envoy_jwt',
    identify: envoy,
    workload: 'wl-envoy',
    secret: 'no-secret-reaches-llm-authz',
    requests: {
      valid: meta({ iss, sub: 'wl-envoy', aud: 'llm-authz', exp: nowS() + 600 }),
      absent: {},
      expired: meta({ iss, sub: 'wl-envoy', exp: nowS() - 3600 }),
      not_for_us: meta({ iss: 'https://elsewhere.test', sub: 'wl-envoy', exp: nowS() + 600 }),
      malformed: { metadata: { 'envoy.filters.http.jwt_authn': { jwt_payload: 'not-an-object' } } },
    },
    notApplicable: {
      not_yet_valid: "Envoy's jwt_authn checks nbf before the payload reaches the metadata",
      revoked: 'Envoy verified the token; revocation is the issuer key rotation Envoy sees',
      tampered: 'the signature was verified by Envoy; llm-authz never sees an unverified payload in metadata',
      conflicting:
        "one payload per request in metadata; conflicts with other methods (test/unit/identity-precedence.test.ts: 'an API key bound to another workload than the mTLS peer is a conflict')",
      oversized: "Envoy's header limits apply before jwt_authn",
    },
  });

  // --- spiffe: principal and peer certificate
  const pki = createPki(path.join(dir, 'pki'));
  const good = pki.read(pki.client('good', 'spiffe://good.test/ns/apps/sa/chat').cert);
  const day = 86_400_000;
  const expiredCert = pki.read(
    pki.client('expired', 'spiffe://good.test/ns/apps/sa/chat', { validity: { from: new Date(Date.now() - 3 * day), to: new Date(Date.now() - day) } }).cert,
  );
  const futureCert = pki.read(
    pki.client('future', 'spiffe://good.test/ns/apps/sa/chat', { validity: { from: new Date(Date.now() + day), to: new Date(Date.now() + 2 * day) } }).cert,
  );
  const other2 = pki.read(pki.client('other', 'spiffe://good.test/ns/apps/sa/other').cert);
  const spiffe = build({ spiffe: { trust_domains: ['good.test'] } }, dir);
  methods.push({
    name: 'spiffe',
    identify: spiffe,
    workload: 'spiffe://good.test/ns/apps/sa/chat',
    secret: 'no-secret-in-mtls',
    requests: {
      valid: { principal: 'spiffe://good.test/ns/apps/sa/chat', certificatePem: good },
      absent: {},
      // Envoy's handshake refuses these (identity-envoy.test.ts); llm-authz checks the peer certificate's dates again.
      expired: { principal: 'spiffe://good.test/ns/apps/sa/chat', certificatePem: expiredCert },
      not_yet_valid: { principal: 'spiffe://good.test/ns/apps/sa/chat', certificatePem: futureCert },
      not_for_us: { principal: 'spiffe://evil.test/ns/apps/sa/chat' },
      malformed: { principal: 'spiffe://good.test/ns/../sa/chat' },
      conflicting: { principal: 'spiffe://good.test/ns/apps/sa/chat', certificatePem: other2 },
      oversized: { certificatePem: `-----BEGIN CERTIFICATE-----\n${'A'.repeat(70_000)}\n-----END CERTIFICATE-----\n` },
    },
    notApplicable: {
      revoked: "revocation of X.509 SVIDs is Envoy's CRL check at the handshake",
      tampered:
        "a tampered certificate fails the TLS handshake in Envoy (test/e2e/identity-envoy.test.ts: 'refuses connections without a client certificate or with one from another CA (before llm-authz)')",
    },
  });
}, 60_000);

describe.each(['api_key', 'api_key in api-key', 'api_key in x-goog-api-key', 'api_key from the Bedrock and Vertex AI SDKs', 'jwt', 'envoy_jwt', 'spiffe'])(
  'identity method %s (shared suite)',
  (name) => {
    const m = (): MethodUnderTest => {
      const found = methods.find((x) => x.name === name);
      if (!found) throw new Error(`method ${name} not set up`);
      return found;
    };

    it('(test table) covers every case or says why it does not apply', () => {
      for (const c of ['valid', ...CASES] as CaseName[]) {
        expect(m().requests[c] !== undefined || m().notApplicable[c] !== undefined, `case ${c}`).toBe(true);
      }
      expect(m().requests.valid).toBeDefined();
    });

    it('authenticates a valid credential to its workload, holding no secret', async () => {
      const r = await m().identify(identityCtx(m().requests.valid!));
      expect(r.ok).toBe(true);
      if (!r.ok) return;
      expect(r.value.method).toBe(m().method ?? name);
      expect(r.value.workload).toBe(m().workload);
      expect(JSON.stringify(r.value)).not.toContain(m().secret);
    });

    it('(test table) a note that points to another test names a file and a test title that exist', () => {
      for (const note of Object.values(m().notApplicable)) {
        for (const [, file, title] of note.matchAll(/\((test\/[\w./-]+\.test\.ts)(?:: '([^']+)')?\)/g)) {
          const at = path.join(ROOT, file!);
          expect(existsSync(at), `${file} exists`).toBe(true);
          if (title !== undefined) expect(readFileSync(at, 'utf8'), `${file} has the test '${title}'`).toContain(`'${title}'`);
        }
        expect(note, 'a note naming a test file gives its path from the repository root').not.toMatch(/(^|[\s(])[\w-]+\.test\.ts/);
      }
    });

    it.each(CASES)('denies the case %s with the shared reason code (or the table says why it does not apply)', async (c) => {
      const req = m().requests[c];
      if (req === undefined) {
        expect(m().notApplicable[c]).toMatch(/\w/);
        return;
      }
      const r = await m().identify(identityCtx(req));
      expect(r.ok).toBe(false);
      if (r.ok) return;
      const expected = EXPECTED[c];
      expect(Array.isArray(expected) ? expected : [expected]).toContain(r.reason);
      expect(JSON.stringify(r)).not.toContain(m().secret);
    });
  },
);
