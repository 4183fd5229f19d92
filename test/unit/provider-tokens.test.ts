/**
 * OAuth2 access tokens minted by llm-authz from a Google service-account key (Vertex AI),
 * against a local token endpoint that verifies the signed assertion and issues tokens
 * (devstack/mock-google-token.ts): minted once and cached, minted again before expiry without a
 * request waiting, the endpoint configurable, failures a deny that names no secret, and nothing
 * of the key or the tokens logged, even with google-auth-library's debug logging switched on.
 */
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { parseConfigText } from '../../src/config/load.ts';
import type { CredentialReloadEvent } from '../../src/core/build-context.ts';
import { attachCredential } from '../../src/providers/attach.ts';
import { buildProviders, type Providers } from '../../src/providers/runtime.ts';
import { testServiceAccount, tokenIssuer, type TestServiceAccount, type TokenIssuer } from '../../devstack/mock-google-token.ts';
import { waitFor } from '../../devstack/ports.ts';
import { ROOT } from '../../devstack/tools.ts';
import { ctxOf } from '../helpers/runtime.ts';

const VERTEX_PATH = '/v1/projects/acme-prod/locations/us-central1/publishers/google/models/gemini-2.5-flash:generateContent';

let account: TestServiceAccount;
let issuer: TokenIssuer;
let server: Server;
let tokenUrl: string;
let dir: string;

beforeAll(async () => {
  account = testServiceAccount();
  issuer = tokenIssuer(account);
  server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      if (req.method !== 'POST' || req.url !== '/token') {
        res.writeHead(404).end();
        return;
      }
      void issuer.token(Buffer.concat(chunks).toString('utf8')).then(([status, body]) => {
        res.writeHead(status, { 'content-type': 'application/json' });
        res.end(body);
      });
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const addr = server.address();
  tokenUrl = `http://127.0.0.1:${typeof addr === 'object' && addr !== null ? addr.port : 0}/token`;
  dir = mkdtempSync(path.join(os.tmpdir(), 'llm-authz-sa-'));
  writeFileSync(path.join(dir, 'sa.json'), account.keyJson(tokenUrl));
  writeFileSync(path.join(dir, 'sa-google.json'), account.keyJson('https://oauth2.googleapis.com/token'));
  writeFileSync(path.join(dir, 'sa-closed.json'), account.keyJson('http://127.0.0.1:9/token'));
  writeFileSync(path.join(dir, 'sa-other.json'), testServiceAccount(account.clientEmail).keyJson(tokenUrl));
});

afterAll(async () => {
  await new Promise<void>((resolve) => server.close(() => resolve()));
  rmSync(dir, { recursive: true, force: true });
});

const opened: Providers[] = [];
afterEach(() => {
  for (const p of opened.splice(0)) p.close();
  issuer.expiresInS = 3600;
});

function vertex(credential: string, events: CredentialReloadEvent[] = []): Providers {
  const cfg = parseConfigText(`providers:\n  - {name: vertex, api: vertex-ai, credential: ${credential}}\n`, 'p.yaml');
  const p = buildProviders(cfg.providers, cfg.credentials, dir, 'p.yaml', (e) => events.push(e));
  opened.push(p);
  return p;
}

async function bearer(p: Providers) {
  const provider = p.byName.get('vertex')!;
  return attachCredential(provider, provider.credential, ctxOf({ path: VERTEX_PATH, headers: { 'content-type': 'application/json' }, body: '{"contents":[]}' }));
}

function tokenOf(r: Awaited<ReturnType<typeof bearer>>): string {
  if (!r.ok) throw new Error(`no token: ${r.reason} ${r.detail ?? ''}`);
  const auth = Object.fromEntries(r.value.set)['authorization'] ?? '';
  return auth;
}

describe('access tokens from a service-account key (Vertex AI)', () => {
  it('mints a token the token endpoint issued, sent as a bearer token; the client credential headers are removed', async () => {
    const before = issuer.issued.length;
    const r = await bearer(vertex('{service_account: {file: sa.json}}'));
    const auth = tokenOf(r);
    expect(auth).toMatch(/^Bearer ya29\.mock-/);
    expect(issuer.problem(auth)).toBeUndefined();
    expect(issuer.issued.length).toBe(before + 1);
    expect(r.ok && r.value.remove).toEqual(expect.arrayContaining(['x-goog-api-key', 'x-api-key', 'x-amz-security-token']));
    expect(r.ok && r.value.remove).not.toContain('authorization');
  });

  it('reports each mint and each failure as an event (health: a failure marks the credential stale until a token is minted)', async () => {
    const events: CredentialReloadEvent[] = [];
    await bearer(vertex('{service_account: {file: sa.json}}', events));
    expect(events).toEqual([{ file: path.join(dir, 'sa.json'), outcome: 'token_minted' }]);
    const failed: CredentialReloadEvent[] = [];
    await bearer(vertex('{service_account: {file: sa-other.json}}', failed));
    expect(failed).toEqual([{ file: path.join(dir, 'sa-other.json'), outcome: 'token_failed', problem: 'token endpoint answered HTTP 400 (invalid_grant)' }]);
  });

  it('the check can fail: a token the endpoint did not issue is refused', () => {
    expect(issuer.problem('Bearer ya29.forged')).toMatch(/not issued/);
    expect(issuer.problem(undefined)).toMatch(/no bearer token/);
  });

  it('caches the token: later requests reuse it without calling the token endpoint', async () => {
    const p = vertex('{service_account: {file: sa.json}}');
    const first = tokenOf(await bearer(p));
    const issued = issuer.issued.length;
    for (let i = 0; i < 5; i++) expect(tokenOf(await bearer(p))).toBe(first);
    expect(issuer.issued.length).toBe(issued);
  });

  it('mints a new token five minutes before expiry, in the background', async () => {
    issuer.expiresInS = 301; // due for refresh one second after it is issued
    const events: CredentialReloadEvent[] = [];
    const p = vertex('{service_account: {file: sa.json}}', events);
    const first = tokenOf(await bearer(p));
    const issued = issuer.issued.length;
    // Wait on llm-authz's side (the mint event fires once the new token is held), not on the
    // token endpoint's count, which moves before the answer reaches the client.
    const minted = () => events.filter((e) => e.outcome === 'token_minted').length;
    await waitFor('a token minted in the background', () => (minted() >= 2 ? true : undefined), 10_000);
    expect(issuer.issued.length).toBeGreaterThan(issued);
    const next = tokenOf(await bearer(p));
    expect(next).not.toBe(first);
    expect(issuer.problem(next)).toBeUndefined();
  });

  it('posts to token_url when given, else to the key file’s token_uri', async () => {
    // The key says Google's endpoint; the config sends the token request to the local one.
    expect(issuer.problem(tokenOf(await bearer(vertex(`{service_account: {file: sa-google.json}, token_url: "${tokenUrl}"}`))))).toBeUndefined();
    // The key's token_uri is a closed port: without token_url, no token.
    expect(await bearer(vertex('{service_account: {file: sa-closed.json}}'))).toMatchObject({ ok: false, reason: 'provider_unavailable' });
  });

  it('an unreachable token endpoint denies with provider_unavailable, and prefetch reports it (no secret in either)', async () => {
    const events: CredentialReloadEvent[] = [];
    const p = vertex('{service_account: {file: sa-closed.json}}', events);
    p.prefetch?.();
    const r = await bearer(p);
    expect(r).toMatchObject({
      ok: false,
      reason: 'provider_unavailable',
      detail: expect.stringMatching(/no access token for provider 'vertex' \(token endpoint (unreachable|request failed)/),
    });
    await waitFor('the token_failed event', () => (events.some((e) => e.outcome === 'token_failed') ? true : undefined), 10_000);
    const text = JSON.stringify([r, events]);
    expect(text).not.toContain(account.privateKeyPem.split('\n')[1]);
  });

  it('a key the token endpoint does not know: HTTP 400 invalid_grant, denied', async () => {
    const r = await bearer(vertex('{service_account: {file: sa-other.json}}'));
    expect(r).toMatchObject({ ok: false, reason: 'provider_unavailable', detail: expect.stringContaining('HTTP 400 (invalid_grant)') });
  });

  it('logs nothing of the key or the token, even with GOOGLE_SDK_NODE_LOGGING=all', async () => {
    const script = `
      import { Secret } from ${JSON.stringify(pathToFileURL(path.join(ROOT, 'src/core/secret.ts')).href)};
      import { ServiceAccount } from ${JSON.stringify(pathToFileURL(path.join(ROOT, 'src/providers/google-token.ts')).href)};
      import { readFileSync } from 'node:fs';
      const sa = new ServiceAccount({ key: new Secret(readFileSync(process.argv[1], 'utf8')), origin: 'sa.json', tokenUrl: undefined });
      const t = await sa.token(['https://www.googleapis.com/auth/cloud-platform']);
      process.stdout.write('TOKEN ' + t.reveal().length + '\\n');
      sa.close();`;
    const out = await new Promise<{ stdout: string; stderr: string }>((resolve, reject) => {
      execFile(
        process.execPath,
        ['--input-type=module', '-e', script, path.join(dir, 'sa.json')],
        { env: { ...process.env, GOOGLE_SDK_NODE_LOGGING: 'all', NODE_DEBUG: '' }, timeout: 20_000 },
        (err, stdout, stderr) => (err ? reject(new Error(`${err.message}\n${stderr}`)) : resolve({ stdout, stderr })),
      );
    });
    expect(out.stdout).toMatch(/^TOKEN \d+\n$/);
    const latest = issuer.issued.at(-1) ?? '';
    expect(latest).not.toBe('');
    for (const text of [out.stdout, out.stderr]) {
      expect(text).not.toContain(latest);
      expect(text).not.toContain(account.privateKeyPem.split('\n')[1]);
      expect(text).not.toContain('assertion');
    }
  });
});
