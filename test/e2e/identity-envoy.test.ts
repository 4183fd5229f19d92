/**
 * Workload identity through the real Envoy (envoy/sidecar-mtls.yaml): mTLS with SPIFFE client
 * certificates from a test CA, JWTs verified by llm-authz against a loopback JWKS server that
 * rotates and goes down, payloads verified by Envoy's jwt_authn, and the `llm-authz keys`
 * round trip (create, use, rotate with overlap, revoke) on the built CLI.
 */
import { execFileSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import https from 'node:https';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it, onTestFailed } from 'vitest';
import { startAuthz, type AuthzProcess } from '../../devstack/authz.ts';
import { startEnvoy, type EnvoyProcess } from '../../devstack/envoy.ts';
import { renderSidecarMtls } from '../../devstack/mtls-stack.ts';
import { startMockProvider, type MockProvider } from '../../devstack/mock-provider.ts';
import { waitFor } from '../../devstack/ports.ts';
import { cliEntry, ROOT } from '../../devstack/tools.ts';
import { createPki, type Pki, type Validity } from '../helpers/identity-pki.ts';
import { exportJWK } from 'jose';
import { signingKey as makeSigningKey, signToken as makeToken, type SigningKey } from '../helpers/identity.ts';
import { startJwksServer, type JwksServer } from '../helpers/jwks-server.ts';
import { newWorkDir } from '../helpers/stack.ts';
import { rememberPrivateKeyPem, rememberSecret, suiteSecrets } from '../helpers/suite-secrets.ts';

const GOOD = 'spiffe://good.test/ns/apps/sa/chat';
const EVIL = 'spiffe://evil.test/ns/apps/sa/chat';
const ISS = 'https://issuer.test';
const ENVOY_ISS = 'https://envoy-issuer.test';
/** An issuer whose JWKS URL may be fetched at most once an hour: the flood test counts its fetches. */
const SLOW_ISS = 'https://slow-issuer.test';
const COOLDOWN_S = 2;
const DAY_MS = 86_400_000;
const QUICKSTART = path.join(ROOT, 'examples/quickstart');

interface Reply {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  text: string;
  json: any;
}
type Client = { cert: string; key: string } | undefined;

let dir: string;
let pki: Pki;
let good: Client;
let evil: Client;
let expired: Client;
let notYetValid: Client;
let jwks: JwksServer;
let k1: SigningKey;
let k2: SigningKey;
let e1: SigningKey;
let openai: MockProvider;
let anthropic: MockProvider;
let authz: AuthzProcess;
let envoy: EnvoyProcess;
/** The same sidecar config, told to let certificates outside their validity through (allow_expired_certificate). */
let lenientEnvoy: EnvoyProcess;
let port: number;
let store: string;
let firstKey: { id: string; key: string };
let failed = false;

/** Every secret this file makes is registered with the suite-wide secret scan. */
const made: string[] = [];
function remember(label: string, value: string): void {
  rememberSecret(label, value);
  made.push(value);
}
async function signingKey(kid: string): Promise<SigningKey> {
  const k = await makeSigningKey(kid);
  const d = (await exportJWK(k.privateKey)).d;
  if (!d) throw new Error('the signing key has no private part');
  remember(`identity-envoy signing key ${kid} (private d)`, d);
  return k;
}
async function signToken(...args: Parameters<typeof makeToken>): Promise<string> {
  const token = await makeToken(...args);
  remember(`identity-envoy JWT #${made.length + 1}`, token);
  return token;
}
function clientCert(p: Pki, name: string, spiffeId: string, validity?: Validity): { cert: string; key: string } {
  const c = p.client(name, spiffeId, validity ? { validity } : {});
  rememberPrivateKeyPem(`identity-envoy client key ${name}`, readFileSync(c.key, 'utf8'));
  return c;
}

function keysCli(args: string[]): string {
  return execFileSync(process.execPath, [cliEntry(), 'keys', ...args, '--store', store], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
}
function createdKey(out: string): { id: string; key: string } {
  const id = /^id: (\S+)$/m.exec(out)?.[1];
  const key = /^key: (\S+)$/m.exec(out)?.[1];
  if (!id || !key) throw new Error('keys printed no key');
  remember(`identity-envoy API key ${id}`, key);
  return { id, key };
}

function call(client: Client, headers: Record<string, string> = {}, model = 'gpt-4o-mini', to = port): Promise<Reply> {
  const body = JSON.stringify({ model, messages: [{ role: 'user', content: 'hello' }] });
  return new Promise((resolve, reject) => {
    const req = https.request(
      {
        host: '127.0.0.1',
        port: to,
        method: 'POST',
        path: '/v1/chat/completions',
        ca: pki.read(pki.caCert),
        ...(client ? { cert: readFileSync(client.cert), key: readFileSync(client.key) } : {}),
        agent: false,
        headers: { 'content-type': 'application/json', 'content-length': String(Buffer.byteLength(body)), ...headers },
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => {
          const text = Buffer.concat(chunks).toString('utf8');
          let json: unknown;
          try {
            json = JSON.parse(text);
          } catch {
            json = undefined;
          }
          resolve({ status: res.statusCode ?? 0, headers: res.headers, text, json });
        });
      },
    );
    req.on('error', reject);
    req.end(body);
  });
}

/**
 * The TLS alert code with which the server ended the handshake (Node names it
 * ERR_SSL_..._ALERT_<ALERT>), for a call that must be refused there. Any other outcome (an
 * HTTP answer, a refused connection, a reset) fails the calling test with what happened.
 */
async function handshakeAlert(client: Client, to = port): Promise<string> {
  let outcome: string;
  try {
    const r = await call(client, {}, 'gpt-4o-mini', to);
    outcome = `an HTTP ${r.status} answer`;
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code ?? '';
    const alert = /^ERR_SSL_[A-Z0-9/]+_ALERT_([A-Z_]+)$/.exec(code)?.[1];
    if (alert !== undefined) return alert;
    outcome = `error ${code || String(err)}`;
  }
  throw new Error(`expected the TLS handshake to be refused with an alert, got ${outcome}`);
}

async function decisionOf(r: Reply): Promise<Record<string, unknown>> {
  const id = r.headers['x-llm-authz-decision-id'];
  return waitFor('the decision record', () => authz.decisions().find((d) => d['decision.id'] === id), 5000);
}

function expect401(r: Reply, reason: string, secret?: string): void {
  expect(r.status).toBe(401);
  expect(String(r.headers['www-authenticate'])).toContain('Bearer realm="llm-authz"');
  expect(r.json).toMatchObject({ error: { code: reason, type: 'authentication_error' } });
  if (secret !== undefined) expect(r.text).not.toContain(secret);
}

async function storeGeneration(n: number): Promise<void> {
  await waitFor(`key store generation ${n}`, () => (authz.logs().some((l) => l['msg'] === 'key store reloaded' && Number(l['generation']) >= n) ? true : undefined), 10_000);
}

beforeAll(async () => {
  dir = newWorkDir('identity-envoy');
  pki = createPki(path.join(dir, 'pki'));
  rememberPrivateKeyPem('identity-envoy server key', readFileSync(pki.serverKey, 'utf8'));
  good = clientCert(pki, 'good', GOOD);
  evil = clientCert(pki, 'evil', EVIL);
  expired = clientCert(pki, 'expired', GOOD, { from: new Date(Date.now() - 3 * DAY_MS), to: new Date(Date.now() - DAY_MS) });
  notYetValid = clientCert(pki, 'not-yet-valid', GOOD, { from: new Date(Date.now() + DAY_MS), to: new Date(Date.now() + 2 * DAY_MS) });
  k1 = await signingKey('k1');
  k2 = await signingKey('k2');
  e1 = await signingKey('e1');
  jwks = await startJwksServer([k1.publicJwk], '/jwks.json');
  jwks.setKeys([e1.publicJwk], '/envoy-jwks.json');
  jwks.setKeys([k1.publicJwk], '/slow-jwks.json');
  openai = await startMockProvider('openai');
  anthropic = await startMockProvider('anthropic');

  store = path.join(dir, 'keys.json');
  firstKey = createdKey(keysCli(['create', '--workload', GOOD, '--models', 'gpt-4o-mini']));
  const config = path.join(dir, 'llm-authz.yaml');
  writeFileSync(
    config,
    `providers:
  - {name: openai, api: openai, route: openai, credential: {file: ${path.join(QUICKSTART, 'secrets/openai-api-key')}}}
  - {name: anthropic, api: anthropic, route: anthropic, credential: {file: ${path.join(QUICKSTART, 'secrets/anthropic-api-key')}}}
identity:
  key_store: {file: keys.json, reload_interval_ms: 200}
  spiffe: {trust_domains: [good.test]}
  jwt:
    issuers:
      - issuer: ${ISS}
        audiences: [llm-authz]
        jwks: {url: "${jwks.url}", cooldown_s: ${COOLDOWN_S}, timeout_ms: 5000}
      - issuer: ${SLOW_ISS}
        audiences: [llm-authz]
        jwks: {url: "http://127.0.0.1:${jwks.port}/slow-jwks.json", cooldown_s: 3600, timeout_ms: 5000}
  envoy_jwt:
    issuers: [{issuer: ${ENVOY_ISS}}]
decision_log: {sink: stdout}
`,
  );
  authz = await startAuthz({ config, workDir: dir });
  const sidecar = (ports: { listen: number; admin: number }, accessLog: string): string =>
    renderSidecarMtls({
      ports,
      authzPort: authz.port,
      openaiPort: openai.port,
      anthropicPort: anthropic.port,
      accessLog: path.join(dir, accessLog),
      tls: { serverCert: pki.serverCert, serverKey: pki.serverKey, clientCa: pki.caCert },
      jwt: { issuer: ENVOY_ISS, audience: 'llm-authz', jwksPort: jwks.port, jwksPath: '/envoy-jwks.json' },
    });
  envoy = await startEnvoy({ workDir: dir, render: (ports) => sidecar(ports, 'access.log') });
  port = envoy.ports.listen;
  // llm-authz's own check of the peer certificate's dates, reached only when Envoy lets such a certificate through.
  const trustedCa = `trusted_ca: { filename: ${pki.caCert} }`;
  lenientEnvoy = await startEnvoy({
    workDir: dir,
    name: 'envoy-lenient',
    render: (ports) => {
      const yaml = sidecar(ports, 'access-lenient.log');
      if (!yaml.includes(trustedCa)) throw new Error('envoy/sidecar-mtls.yaml: no trusted_ca line to add allow_expired_certificate to');
      return yaml.replace(trustedCa, `${trustedCa}\n              allow_expired_certificate: true`);
    },
  });
  await waitFor('Envoy to see llm-authz healthy', async () => ((await envoy.clusterHealth('llm_authz'))[0] === 'HEALTHY' ? true : undefined));
  await waitFor('the lenient Envoy to see llm-authz healthy', async () => ((await lenientEnvoy.clusterHealth('llm_authz'))[0] === 'HEALTHY' ? true : undefined));
  // Both issuers' key sets are loaded before any test counts fetches: a token of each is
  // accepted. (With a 300 ms fetch timeout, the start-up fetches timed out at load average 10,
  // and the JWKS test then depended on the tests before it having loaded the sets.)
  for (const iss of [ISS, SLOW_ISS]) {
    const token = await signToken(k1, { iss, aud: 'llm-authz', sub: GOOD });
    await waitFor(`the key set of ${iss} loaded`, async () => ((await call(good, { authorization: `Bearer ${token}` })).status === 200 ? true : undefined), 20_000, 250);
  }
});

afterAll(async () => {
  await lenientEnvoy?.stop();
  await envoy?.stop();
  await authz?.stop();
  await openai?.close();
  await anthropic?.close();
  await jwks?.close();
  if (failed) process.stderr.write(`[e2e] logs of the failed test kept in ${dir}\n`);
});

describe('workload identity through the real Envoy (mTLS sidecar)', () => {
  const track = (): void => {
    onTestFailed(() => {
      failed = true;
    });
  };

  it('allows a SPIFFE ID of the trusted domain and rejects another trust domain', async () => {
    track();
    const before = openai.requests.length;
    const ok = await call(good);
    expect(ok.status).toBe(200);
    expect(openai.requests.length).toBe(before + 1);
    expect(await decisionOf(ok)).toMatchObject({ 'identity.method': 'spiffe', 'identity.workload': GOOD, 'source.principal': GOOD });

    const denied = await call(evil);
    expect401(denied, 'untrusted_domain');
    expect(openai.requests.length).toBe(before + 1);
  });

  it('refuses connections without a client certificate or with one from another CA (before llm-authz)', async () => {
    track();
    const decided = (await authz.settledDecisions()).length;
    // The TLS handshake itself fails, with the alert that names why (not a refused connection, not an HTTP error).
    expect(await handshakeAlert(undefined)).toBe('CERTIFICATE_REQUIRED');
    const rogue = clientCert(createPki(path.join(dir, 'rogue-pki')), 'rogue', GOOD);
    expect(await handshakeAlert(rogue)).toBe('UNKNOWN_CA');
    // The control: the same listener completes the handshake for a certificate of the trusted CA.
    expect((await call(good)).status).toBe(200);
    expect((await authz.settledDecisions()).length).toBe(decided + 1);
  });

  it('refuses an expired and a not-yet-valid client certificate in the TLS handshake (before llm-authz)', async () => {
    track();
    const decided = (await authz.settledDecisions()).length;
    expect(await handshakeAlert(expired)).toBe('CERTIFICATE_EXPIRED');
    expect(await handshakeAlert(notYetValid)).toBe('CERTIFICATE_EXPIRED');
    expect((await authz.settledDecisions()).length).toBe(decided);
  });

  it('denies an expired and a not-yet-valid client certificate itself (401 expired_credentials) when Envoy lets them through', async () => {
    track();
    const before = openai.requests.length;
    // The control: a valid certificate through the same lenient listener is allowed.
    expect((await call(good, {}, 'gpt-4o-mini', lenientEnvoy.ports.listen)).status).toBe(200);
    for (const c of [expired, notYetValid]) {
      const r = await call(c, {}, 'gpt-4o-mini', lenientEnvoy.ports.listen);
      expect401(r, 'expired_credentials');
      expect(await decisionOf(r)).toMatchObject({ 'decision.reason': 'expired_credentials', 'decision.phase': 'identity', 'source.principal': GOOD });
    }
    expect(openai.requests.length).toBe(before + 1);
  });

  it('accepts a JWT from the loopback JWKS, then rejects it once its key rotates out', async () => {
    track();
    const old = await signToken(k1, { iss: ISS, aud: 'llm-authz', sub: GOOD });
    const r = await call(good, { authorization: `Bearer ${old}` });
    expect(r.status).toBe(200);
    expect(await decisionOf(r)).toMatchObject({ 'identity.method': 'jwt', 'identity.issuer': ISS, 'identity.workload': GOOD });

    jwks.setKeys([k2.publicJwk], '/jwks.json');
    const fresh = await signToken(k2, { iss: ISS, aud: 'llm-authz', sub: GOOD });
    // The first k2 token triggers a refresh once the cool-down since the last fetch has passed.
    await waitFor('the new key to be fetched', async () => ((await call(good, { authorization: `Bearer ${fresh}` })).status === 200 ? true : undefined), 15_000, 250);
    const rejected = await call(good, { authorization: `Bearer ${old}` });
    expect401(rejected, 'unknown_key', old);
  });

  it('keeps serving cached keys while the JWKS server is down, fails closed for unknown keys, and does not hammer it', async () => {
    track();
    jwks.setDown(true);
    try {
      // Let the cool-down pass, so that the flood below does make llm-authz try the (failing) URL.
      await new Promise((r) => setTimeout(r, COOLDOWN_S * 1000 + 100));
      const hitsBefore = jwks.hits('/jwks.json');
      const k3 = await signingKey('k3');
      // One unknown kid after the cool-down: exactly one fetch of the (failing) URL.
      expect401(await call(good, { authorization: `Bearer ${await signToken(k3, { iss: ISS, aud: 'llm-authz', sub: GOOD }, { kid: 'first-unknown' })}` }), 'unknown_key');
      expect(jwks.hits('/jwks.json') - hitsBefore).toBe(1);
      // A flood of unknown kids for the issuer whose cool-down (an hour) began with its last
      // fetch (before the tests): not one more fetch, however many arrive and however long they take.
      const slowBefore = jwks.hits('/slow-jwks.json');
      expect(slowBefore).toBeGreaterThanOrEqual(1);
      const replies = await Promise.all(
        Array.from({ length: 40 }, async (_, i) =>
          call(good, { authorization: `Bearer ${await signToken(k3, { iss: SLOW_ISS, aud: 'llm-authz', sub: GOOD }, { kid: `flood-${i}` })}` }),
        ),
      );
      for (const r of replies) expect401(r, 'unknown_key');
      expect(jwks.hits('/slow-jwks.json')).toBe(slowBefore);
      // After the failed refresh, a token never seen before, signed by a cached key, is still accepted.
      const unseen = await signToken(k2, { iss: ISS, aud: 'llm-authz', sub: GOOD, jti: 'while-down' });
      expect((await call(good, { authorization: `Bearer ${unseen}` })).status).toBe(200);
      expect(authz.logs().some((l) => l['msg'] === 'jwks refresh failed' && l['serving_cached'] === true)).toBe(true);
    } finally {
      jwks.setDown(false);
    }
  });

  it('hands an Envoy jwt_authn-verified payload to the policy as workload, agent and user', async () => {
    track();
    const token = await signToken(e1, { iss: ENVOY_ISS, aud: 'llm-authz', sub: 'alice@example.com', act: { sub: 'planner-agent' } });
    const r = await call(good, { authorization: `Bearer ${token}` });
    expect(r.status).toBe(200);
    expect(await decisionOf(r)).toMatchObject({
      'identity.method': 'envoy_jwt',
      'identity.workload': GOOD,
      'identity.agent': 'planner-agent',
      'identity.user': 'alice@example.com',
      'identity.issuer': ENVOY_ISS,
    });
    expect(JSON.stringify(openai.requests.at(-1)?.headers)).not.toContain(token);

    // A token of that issuer which Envoy could not verify (wrong audience) passes on unverified: llm-authz does not trust it.
    const unverified = await signToken(e1, { iss: ENVOY_ISS, aud: 'someone-else', sub: 'alice@example.com' });
    expect401(await call(good, { authorization: `Bearer ${unverified}` }), 'unknown_issuer', unverified);
  });

  it('keys round trip: create, use, rotate (old key inside the overlap, not after), revoke', async () => {
    track();
    const first = await call(good, { authorization: `Bearer ${firstKey.key}` });
    expect(first.status).toBe(200);
    expect(await decisionOf(first)).toMatchObject({ 'identity.method': 'api_key', 'identity.credential_id': firstKey.id, 'identity.workload': GOOD });

    const rotated = createdKey(keysCli(['rotate', '--id', firstKey.id, '--overlap', '10s']));
    await storeGeneration(2);
    expect((await call(good, { authorization: `Bearer ${firstKey.key}` })).status).toBe(200);
    expect((await call(good, { authorization: `Bearer ${rotated.key}` })).status).toBe(200);
    const after = await waitFor(
      'the overlap to end',
      async () => {
        const r = await call(good, { authorization: `Bearer ${firstKey.key}` });
        return r.status === 401 ? r : undefined;
      },
      30_000,
      500,
    );
    expect401(after, 'expired_credentials', firstKey.key);
    expect((await call(good, { authorization: `Bearer ${rotated.key}` })).status).toBe(200);

    keysCli(['revoke', '--id', rotated.id]);
    await storeGeneration(3);
    expect401(await call(good, { authorization: `Bearer ${rotated.key}` }), 'revoked_credentials', rotated.key);
    expect(readFileSync(store, 'utf8')).not.toContain(rotated.key);
  });

  it('answers bad credentials with 401, www-authenticate and a JSON body naming the reason, never the token', async () => {
    track();
    const garbage = 'Zm9vYmFyYmF6-not-a-token';
    expect401(await call(good, { authorization: `Bearer ${garbage}` }), 'unknown_credentials', garbage);
    const huge = `eyJ${'A'.repeat(20_000)}.eyJ.sig`;
    expect401(await call(good, { authorization: `Bearer ${huge}` }), 'token_too_large', huge.slice(0, 100));
    const conflict = await call(good, { authorization: `Bearer ${firstKey.key}`, 'x-api-key': 'lla_other0001_abcdefghijklmnopqrstuvwx' });
    expect401(conflict, 'conflicting_credentials', firstKey.key);
    expect401(await call(good, { authorization: 'Bearer eyJhbGciOiJub25lIn0.eyJpc3MiOiJodHRwczovL2lzc3Vlci50ZXN0In0.' }), 'unsupported_algorithm');
  });

  it('(test table) registers every JWT, API key and private key it made with the suite-wide secret scan', () => {
    const scanned = new Set(suiteSecrets().map((x) => x.value));
    expect(made.length).toBeGreaterThan(10);
    expect(made.filter((v) => !scanned.has(v))).toEqual([]);
    const labels = suiteSecrets()
      .map((x) => x.label)
      .join('\n');
    for (const kind of ['JWT #', 'API key ', 'signing key k1', 'client key good', 'server key']) expect(labels).toContain(`identity-envoy ${kind}`);
  });
});
