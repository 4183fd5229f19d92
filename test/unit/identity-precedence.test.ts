/** Several methods at once: precedence, agreement, on-behalf-of, and SPIFFE sources. */
import { mkdtempSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { hashApiKey } from '../../src/identity/api-key.ts';
import { createIdentifierFromConfig, type Identify } from '../../src/identity/index.ts';
import { identitySchema } from '../../src/identity/schema.ts';
import { parseConfigText } from '../../src/config/load.ts';
import { buildRuntime } from '../../src/pipeline/runtime.ts';
import { createPki, type Pki } from '../helpers/identity-pki.ts';
import { identityCtx, signingKey, signToken, type SigningKey } from '../helpers/identity.ts';

const ISS = 'https://issuer.test';
const CHAT = 'spiffe://good.test/ns/apps/sa/chat';
const KEY = 'lla_chat0001_abcdefghijklmnopqrstuvwx';
const OTHER_KEY = 'lla_othr0001_abcdefghijklmnopqrstuvwx';

let k1: SigningKey;
let identify: Identify;
let pki: Pki;

const build = (cfg: unknown): Identify => createIdentifierFromConfig(identitySchema.parse(cfg), { source: 'unit.yaml', version: 'v', baseDir: '/' });

beforeAll(async () => {
  k1 = await signingKey('k1');
  pki = createPki(path.join(mkdtempSync(path.join(os.tmpdir(), 'identity-prec-')), 'pki'));
  identify = build({
    api_keys: [
      { id: 'chat0001', hash: hashApiKey(KEY), workload: CHAT, models: ['gpt-4o*'], tools: ['search'], max_tokens: 512 },
      { id: 'othr0001', hash: hashApiKey(OTHER_KEY), workload: 'spiffe://good.test/ns/apps/sa/other', models: ['*'] },
    ],
    spiffe: { trust_domains: ['good.test'] },
    jwt: { issuers: [{ issuer: ISS, audiences: ['llm-authz'], jwks: { keys: [k1.publicJwk] }, agent_claim: 'azp' }] },
    envoy_jwt: { issuers: [{ issuer: ISS }] },
    on_behalf_of: {},
    claims: ['sub', 'azp', 'act'],
  });
}, 30_000);

const jwt = (claims: object): Promise<string> => signToken(k1, { iss: ISS, aud: 'llm-authz', ...claims });

describe('identity precedence', () => {
  it('mTLS SPIFFE ID plus an API key bound to the same workload: the key names the identity and its scopes', async () => {
    const r = await identify(identityCtx({ principal: CHAT, headers: { authorization: `Bearer ${KEY}` } }));
    expect(r).toMatchObject({
      ok: true,
      value: { method: 'api_key', workload: CHAT, credentialId: 'chat0001', methods: ['api_key', 'spiffe'], scopes: { models: ['gpt-4o*'], tools: ['search'], maxTokens: 512 } },
    });
  });

  it('an API key bound to another workload than the mTLS peer is a conflict', async () => {
    expect(await identify(identityCtx({ principal: CHAT, headers: { authorization: `Bearer ${OTHER_KEY}` } }))).toMatchObject({ ok: false, reason: 'conflicting_credentials' });
  });

  it('a presented but invalid credential denies even when mTLS authenticates', async () => {
    expect(await identify(identityCtx({ principal: CHAT, headers: { authorization: `Bearer ${KEY.slice(0, -1)}z` } }))).toMatchObject({ ok: false, reason: 'invalid_credentials' });
    expect(await identify(identityCtx({ principal: CHAT, headers: { authorization: `Bearer ${await jwt({ sub: CHAT, aud: 'x' })}` } }))).toMatchObject({
      ok: false,
      reason: 'wrong_audience',
    });
  });

  it('an untrusted mTLS peer denies even with a valid API key', async () => {
    expect(await identify(identityCtx({ principal: 'spiffe://evil.test/x', headers: { authorization: `Bearer ${KEY}` } }))).toMatchObject({
      ok: false,
      reason: 'untrusted_domain',
    });
  });

  it('a JWT-SVID and the mTLS peer naming the same SPIFFE ID agree', async () => {
    const r = await identify(identityCtx({ principal: CHAT, headers: { authorization: `Bearer ${await jwt({ sub: CHAT, azp: 'planner' })}` } }));
    expect(r).toMatchObject({ ok: true, value: { method: 'jwt', workload: CHAT, agent: 'planner', issuer: ISS, methods: ['jwt', 'spiffe'] } });
  });

  it('keeps only the allowlisted claims', async () => {
    const r = await identify(identityCtx({ headers: { authorization: `Bearer ${await jwt({ sub: 'wl', azp: 'a', email: 'someone@example.com' })}` } }));
    expect(r.ok && r.value.claims).toEqual({ sub: 'wl', azp: 'a' });
  });

  it('garbage in the bearer header that no method understands is unknown_credentials', async () => {
    expect(await identify(identityCtx({ headers: { authorization: 'Bearer not-a-known-token' } }))).toMatchObject({ ok: false, reason: 'unknown_credentials' });
  });

  it('the precedence order decides which method names the identity', async () => {
    const spiffeFirst = build({
      api_keys: [{ id: 'chat0001', hash: hashApiKey(KEY), workload: CHAT, models: ['*'] }],
      spiffe: { trust_domains: ['good.test'] },
      precedence: ['spiffe', 'api_key'],
    });
    const r = await spiffeFirst(identityCtx({ principal: CHAT, headers: { authorization: `Bearer ${KEY}` } }));
    expect(r).toMatchObject({ ok: true, value: { method: 'spiffe', workload: CHAT, issuer: 'spiffe://good.test', methods: ['spiffe', 'api_key'] } });
  });
});

describe('on behalf of', () => {
  it('a token-exchange token (act claim) keeps workload, agent and user apart', async () => {
    const token = await jwt({ sub: 'alice@example.com', act: { sub: 'summarizer-agent' } });
    const r = await identify(identityCtx({ principal: CHAT, headers: { authorization: `Bearer ${token}` } }));
    expect(r).toMatchObject({ ok: true, value: { workload: CHAT, agent: 'summarizer-agent', user: 'alice@example.com' } });
  });

  it('a token-exchange token alone names the agent as the workload', async () => {
    const r = await identify(identityCtx({ headers: { authorization: `Bearer ${await jwt({ sub: 'alice', act: { sub: 'agent-7' } })}` } }));
    expect(r).toMatchObject({ ok: true, value: { workload: 'agent-7', agent: 'agent-7', user: 'alice' } });
  });

  it('a user token in the on-behalf-of header adds the user', async () => {
    const r = await identify(identityCtx({ headers: { authorization: `Bearer ${KEY}`, 'x-llm-authz-on-behalf-of': await jwt({ sub: 'bob' }) } }));
    expect(r).toMatchObject({ ok: true, value: { workload: CHAT, user: 'bob', method: 'api_key' } });
  });

  it('an invalid on-behalf-of token denies', async () => {
    const r = await identify(identityCtx({ headers: { authorization: `Bearer ${KEY}`, 'x-llm-authz-on-behalf-of': await jwt({ sub: 'bob', exp: 1 }) } }));
    expect(r).toMatchObject({ ok: false, reason: 'expired_credentials' });
  });

  it('an on-behalf-of header without a token (`Bearer`, empty) denies as malformed, as a bare `Bearer` authorization does; never an allow without the user', async () => {
    for (const value of ['Bearer', 'Bearer ', 'bearer\t', '']) {
      const r = await identify(identityCtx({ headers: { authorization: `Bearer ${KEY}`, 'x-llm-authz-on-behalf-of': value } }));
      expect(r, JSON.stringify(value)).toMatchObject({ ok: false, reason: 'malformed_credentials' });
    }
    expect(await identify(identityCtx({ headers: { authorization: 'Bearer' } }))).toMatchObject({ ok: false, reason: 'malformed_credentials' });
    // The same request with a token in the header names the user: the deny above is the header's.
    const r = await identify(identityCtx({ headers: { authorization: `Bearer ${KEY}`, 'x-llm-authz-on-behalf-of': `Bearer ${await jwt({ sub: 'bob' })}` } }));
    expect(r).toMatchObject({ ok: true, value: { workload: CHAT, user: 'bob' } });
  });

  it('two different users (act claim and header) conflict', async () => {
    const token = await jwt({ sub: 'alice', act: { sub: 'agent-7' } });
    const r = await identify(identityCtx({ headers: { authorization: `Bearer ${token}`, 'x-llm-authz-on-behalf-of': await jwt({ sub: 'bob' }) } }));
    expect(r).toMatchObject({ ok: false, reason: 'conflicting_credentials' });
  });

  it('an Envoy-verified token-exchange payload carries the user and agent', async () => {
    const r = await identify(
      identityCtx({
        principal: CHAT,
        metadata: { 'envoy.filters.http.jwt_authn': { jwt_payload: { iss: ISS, sub: 'carol', act: { sub: 'agent-9' }, exp: Math.floor(Date.now() / 1000) + 60 } } },
      }),
    );
    expect(r).toMatchObject({ ok: true, value: { method: 'envoy_jwt', workload: CHAT, agent: 'agent-9', user: 'carol' } });
  });

  it('on_behalf_of without jwt issuers is a config error', () => {
    expect(() => build({ on_behalf_of: {} })).toThrow(/needs identity\.jwt/);
  });
});

describe('SPIFFE sources', () => {
  it('reads the ID from the peer certificate when Envoy sends no principal', async () => {
    const pem = pki.read(pki.client('c1', CHAT).cert);
    expect(await identify(identityCtx({ certificatePem: pem }))).toMatchObject({ ok: true, value: { method: 'spiffe', workload: CHAT } });
  });

  it('ignores x-forwarded-client-cert unless the config trusts it', async () => {
    const xfcc = `By=spiffe://good.test/envoy;Hash=abc;URI=${CHAT}`;
    expect(await identify(identityCtx({ headers: { 'x-forwarded-client-cert': xfcc } }))).toMatchObject({ ok: false, reason: 'no_credentials' });
    const trusting = build({ spiffe: { trust_domains: ['good.test'], trust_xfcc: true } });
    expect(await trusting(identityCtx({ headers: { 'x-forwarded-client-cert': xfcc } }))).toMatchObject({ ok: true, value: { workload: CHAT } });
    expect(await trusting(identityCtx({ headers: { 'x-forwarded-client-cert': 'URI=spiffe://evil.test/x' } }))).toMatchObject({ ok: false, reason: 'untrusted_domain' });
  });

  it('a client certificate without a SPIFFE ID is not a SPIFFE identity', async () => {
    expect(await identify(identityCtx({ principal: 'CN=someone,O=Example' }))).toMatchObject({ ok: false, reason: 'no_credentials' });
  });

  it('a runtime built from a config file wires every method: each authenticates a request only it can', async () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'identity-wired-'));
    const STORE_KEY = 'lla_stor0001_abcdefghijklmnopqrstuvwx';
    writeFileSync(
      path.join(dir, 'keys.json'),
      JSON.stringify({ version: 1, keys: [{ id: 'stor0001', hash: hashApiKey(STORE_KEY), workload: 'wl-store', models: ['*'], created_at: new Date().toISOString() }] }),
    );
    const ENVOY_ISS = 'https://envoy-issuer.test';
    const cfg = parseConfigText(
      `identity:
  api_keys:
    - {id: chat0001, hash: "${hashApiKey(KEY)}", workload: wl-inline, models: ["*"]}
  key_store: {file: keys.json}
  spiffe: {trust_domains: [good.test]}
  jwt:
    issuers:
      - issuer: ${ISS}
        audiences: [llm-authz]
        jwks: {keys: [${JSON.stringify(k1.publicJwk)}]}
  envoy_jwt:
    issuers: [{issuer: ${ENVOY_ISS}}]
  on_behalf_of: {}
`,
      'cfg.yaml',
    );
    const rt = buildRuntime(cfg, { source: 'cfg.yaml', version: 'v', baseDir: dir });
    try {
      const cases: [string, Parameters<typeof identityCtx>[0], Record<string, unknown>][] = [
        ['api_keys', { headers: { authorization: `Bearer ${KEY}` } }, { method: 'api_key', credentialId: 'chat0001', workload: 'wl-inline' }],
        ['key_store', { headers: { 'x-api-key': STORE_KEY } }, { method: 'api_key', credentialId: 'stor0001', workload: 'wl-store' }],
        ['jwt', { headers: { authorization: `Bearer ${await jwt({ sub: 'wl-jwt' })}` } }, { method: 'jwt', workload: 'wl-jwt', issuer: ISS }],
        [
          'envoy_jwt',
          { metadata: { 'envoy.filters.http.jwt_authn': { jwt_payload: { iss: ENVOY_ISS, sub: 'wl-envoy', exp: Math.floor(Date.now() / 1000) + 600 } } } },
          { method: 'envoy_jwt', workload: 'wl-envoy', issuer: ENVOY_ISS },
        ],
        ['spiffe', { principal: CHAT }, { method: 'spiffe', workload: CHAT, methods: ['spiffe'] }],
        [
          'on_behalf_of',
          { principal: CHAT, headers: { 'x-llm-authz-on-behalf-of': await jwt({ sub: 'alice@example.com' }) } },
          { method: 'spiffe', workload: CHAT, user: 'alice@example.com' },
        ],
      ];
      for (const [configured, req, expected] of cases) {
        expect(await rt.identify(identityCtx(req)), configured).toMatchObject({ ok: true, value: expected });
      }
      // The control: the same runtime authenticates nothing without a credential.
      expect(await rt.identify(identityCtx({}))).toMatchObject({ ok: false, reason: 'no_credentials' });
    } finally {
      await rt.close();
    }
  });

  it('rejects a jwks with more than one source, with the config path', () => {
    expect(() => parseConfigText(`identity:\n  jwt:\n    issuers:\n      - {issuer: x, audiences: [a], jwks: {url: "http://127.0.0.1/j", keys: []}}\n`, 'cfg.yaml')).toThrow(
      /identity\.jwt\.issuers\[0\]\.jwks: expected exactly one of url, file, keys/,
    );
  });
});

describe('a credential nobody accepts', () => {
  it('is not ignored when mTLS authenticates the request', async () => {
    expect(await identify(identityCtx({ principal: CHAT, headers: { authorization: 'Bearer some-garbage' } }))).toMatchObject({ ok: false, reason: 'unknown_credentials' });
    expect(await identify(identityCtx({ principal: CHAT, headers: { 'x-api-key': 'sk-not-ours' } }))).toMatchObject({ ok: false, reason: 'unknown_credentials' });
  });
});

describe('token profiles', () => {
  it('a Kubernetes projected service-account token maps its namespace/name claims', async () => {
    const k8s = build({
      jwt: {
        issuers: [
          {
            issuer: 'https://kubernetes.default.svc',
            audiences: ['llm-authz'],
            jwks: { keys: [k1.publicJwk] },
            workload_claim: 'sub',
            agent_claim: 'kubernetes.io.serviceaccount.name',
          },
        ],
      },
      claims: ['kubernetes.io.namespace'],
    });
    const token = await signToken(k1, {
      iss: 'https://kubernetes.default.svc',
      aud: ['llm-authz', 'other'],
      sub: 'system:serviceaccount:apps:chat',
      'kubernetes.io': { namespace: 'apps', serviceaccount: { name: 'chat', uid: 'u1' } },
    });
    expect(await k8s(identityCtx({ headers: { authorization: `Bearer ${token}` } }))).toMatchObject({
      ok: true,
      value: { method: 'jwt', workload: 'system:serviceaccount:apps:chat', agent: 'chat', claims: { 'kubernetes.io.namespace': 'apps' } },
    });
  });

  it('a JWT-SVID must name a SPIFFE ID in a trusted domain', async () => {
    const svid = build({ jwt: { issuers: [{ issuer: 'spiffe://good.test', audiences: ['llm-authz'], jwks: { keys: [k1.publicJwk] }, spiffe_trust_domains: ['good.test'] }] } });
    const tok = (sub: string): Promise<string> => signToken(k1, { iss: 'spiffe://good.test', aud: 'llm-authz', sub });
    expect(await svid(identityCtx({ headers: { authorization: `Bearer ${await tok(CHAT)}` } }))).toMatchObject({ ok: true, value: { workload: CHAT } });
    expect(await svid(identityCtx({ headers: { authorization: `Bearer ${await tok('spiffe://evil.test/x')}` } }))).toMatchObject({ ok: false, reason: 'untrusted_domain' });
    expect(await svid(identityCtx({ headers: { authorization: `Bearer ${await tok('not-a-spiffe-id')}` } }))).toMatchObject({ ok: false, reason: 'malformed_credentials' });
  });
});
