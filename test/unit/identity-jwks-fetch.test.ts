/**
 * What a JWKS fetch accepts, and what a JWK Set file must hold: only a 200 answer, no
 * redirect, JSON asked for, a timeout, 1 MiB at most (at the exact boundary); the warning and
 * info lines a refresh logs (a JSON parse error's message is never logged: it quotes the body);
 * a JWK Set file read at load, and the config error for a file that is not a public JWK Set.
 */
import { mkdtempSync, writeFileSync } from 'node:fs';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { Writable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { errors, exportJWK } from 'jose';
import { pino } from 'pino';
import { ConfigError } from '../../src/core/errors.ts';
import { remoteKeySet } from '../../src/identity/jwks.ts';
import { createJwtVerifier } from '../../src/identity/jwt.ts';
import { setIdentityLogger } from '../../src/identity/log.ts';
import { jwtSchema } from '../../src/identity/schema.ts';
import { signingKey, signToken, type SigningKey } from '../helpers/identity.ts';

const ISS = 'https://issuer.test';
const MAX_JWKS_BYTES = 1024 * 1024;
const header = { alg: 'RS256', kid: 'k1' };
const TOKEN = { payload: '', signature: '' } as never;

let k1: SigningKey;
let server: Server;
let base: string;
const accepts: (string | undefined)[] = [];
/** path -> how to answer; the default is a 404. */
const routes = new Map<string, (req: IncomingMessage, res: ServerResponse) => void>();

beforeAll(async () => {
  k1 = await signingKey('k1');
  const body = JSON.stringify({ keys: [k1.publicJwk] });
  const json = (status: number, text: string) => (_req: IncomingMessage, res: ServerResponse) => {
    res.writeHead(status, { 'content-type': 'application/json' });
    res.end(text);
  };
  routes.set('/jwks', (req, res) => {
    accepts.push(req.headers.accept);
    json(200, body)(req, res);
  });
  routes.set('/error-with-keys', json(500, body));
  routes.set('/created-with-keys', json(201, body));
  routes.set('/redirect', (_req, res) => {
    res.writeHead(302, { location: '/jwks' });
    res.end();
  });
  routes.set('/exactly-1mib', json(200, body.padEnd(MAX_JWKS_BYTES, ' ')));
  routes.set('/over-1mib', json(200, body.padEnd(MAX_JWKS_BYTES + 1, ' ')));
  routes.set('/hang', () => undefined);
  routes.set('/not-json', json(200, '{"keys": [ SECRET-LOOKING-BODY'));
  server = createServer((req, res) => {
    const route = routes.get(req.url ?? '');
    if (route !== undefined) return route(req, res);
    res.writeHead(404);
    res.end();
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const addr = server.address();
  base = `http://127.0.0.1:${typeof addr === 'object' && addr !== null ? addr.port : 0}`;
});

afterAll(async () => {
  server.closeAllConnections();
  await new Promise((r) => server.close(r));
});

/** The key set at `route`, after its first fetch: whether it serves k1. */
async function loads(route: string, timeoutMs = 5000): Promise<boolean> {
  const ks = remoteKeySet({ url: `${base}${route}`, issuer: ISS, maxAgeMs: 300_000, cooldownMs: 60_000, timeoutMs });
  try {
    await ks.getKey(header, TOKEN);
    return true;
  } catch (err) {
    expect(err).toBeInstanceOf(errors.JWKSNoMatchingKey);
    return false;
  } finally {
    ks.close();
  }
}

describe('what a JWKS fetch accepts', () => {
  it('a 200 answer, asked for as JSON', async () => {
    accepts.length = 0;
    expect(await loads('/jwks')).toBe(true);
    expect(accepts).toEqual(['application/json']);
  });

  it('not a key set in any other answer, even one that carries keys', async () => {
    expect(await loads('/error-with-keys')).toBe(false);
    expect(await loads('/created-with-keys')).toBe(false);
  });

  it('no redirect is followed', async () => {
    accepts.length = 0;
    expect(await loads('/redirect')).toBe(false);
    expect(accepts).toEqual([]);
  });

  it('a set of exactly 1 MiB is read, one byte more is refused', async () => {
    expect(await loads('/exactly-1mib')).toBe(true);
    expect(await loads('/over-1mib')).toBe(false);
  });

  it('an issuer that never answers is given up on after timeout_ms (the request fails closed)', async () => {
    const outcome = await Promise.race([loads('/hang', 100), new Promise((r) => setTimeout(() => r('still waiting'), 10_000))]);
    expect(outcome).toBe(false);
  }, 20_000);
});

describe('what a refresh logs', () => {
  it('a failed fetch: the error class, a cause only when it cannot quote the body, and whether a cached set keeps serving', async () => {
    const lines: Record<string, unknown>[] = [];
    setIdentityLogger(
      pino(
        { level: 'info', formatters: { level: (label) => ({ level: label }) } },
        new Writable({
          write(chunk: Buffer, _enc, cb) {
            lines.push(JSON.parse(chunk.toString()) as Record<string, unknown>);
            cb();
          },
        }),
      ),
    );
    let clock = 1_000_000;
    let route = '/jwks';
    // One URL whose answer changes from fetch to fetch.
    routes.set('/switch', (req, res) => routes.get(route)?.(req, res));
    const ks = remoteKeySet({ url: `${base}/switch`, issuer: ISS, maxAgeMs: 300_000, cooldownMs: 1000, timeoutMs: 5000, now: () => clock });
    try {
      await ks.getKey(header, TOKEN);
      expect(lines.map(({ issuer, keys, generation, msg, level }) => ({ issuer, keys, generation, msg, level }))).toEqual([
        { level: 'info', issuer: ISS, keys: 1, generation: 1, msg: 'jwks refreshed' },
      ]);
      lines.length = 0;

      route = '/error-with-keys';
      clock += 1000;
      await expect(ks.getKey({ alg: 'RS256', kid: 'k9' }, TOKEN)).rejects.toThrow(errors.JWKSNoMatchingKey);
      route = '/not-json';
      clock += 1000;
      await expect(ks.getKey({ alg: 'RS256', kid: 'k9' }, TOKEN)).rejects.toThrow(errors.JWKSNoMatchingKey);
      const picked = lines.map(({ level, msg, issuer, error, cause, serving_cached }) => ({ level, msg, issuer, error, cause, serving_cached }));
      expect(picked).toEqual([
        { level: 'warn', msg: 'jwks refresh failed', issuer: ISS, error: 'Error', cause: 'HTTP 500', serving_cached: true },
        { level: 'warn', msg: 'jwks refresh failed', issuer: ISS, error: 'SyntaxError', cause: undefined, serving_cached: true },
      ]);
      expect(JSON.stringify(lines)).not.toContain('SECRET-LOOKING-BODY');
      lines.length = 0;

      const never = remoteKeySet({ url: `${base}/not-json`, issuer: ISS, maxAgeMs: 300_000, cooldownMs: 1000, timeoutMs: 5000 });
      await expect(never.getKey(header, TOKEN)).rejects.toThrow(errors.JWKSNoMatchingKey);
      never.close();
      expect(lines).toMatchObject([{ level: 'warn', error: 'SyntaxError', serving_cached: false }]);
    } finally {
      ks.close();
      routes.delete('/switch');
    }
  });
});

describe('JWK Set files and inline keys', () => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'jwks-file-'));
  const verifierWith = (jwks: object) => createJwtVerifier(jwtSchema.parse({ issuers: [{ issuer: ISS, audiences: ['llm-authz'], jwks }] }), ['sub'], dir, 'unit.yaml');

  it('a JWK Set file (relative to the config) is read at load and verifies tokens', async () => {
    writeFileSync(path.join(dir, 'keys.json'), JSON.stringify({ keys: [k1.publicJwk] }));
    const v = verifierWith({ file: 'keys.json' });
    expect(await v.verify(await signToken(k1, { iss: ISS, aud: 'llm-authz', sub: 'wl' }))).toMatchObject({ ok: true, finding: { workload: 'wl' } });
  });

  it.each([
    ['an object without keys', '{}', 'not a JWK Set (no "keys" array)'],
    ['null', 'null', 'not a JWK Set (no "keys" array)'],
    ['a string', '"keys"', 'not a JWK Set (no "keys" array)'],
    ['keys that is not a list', '{"keys": {"kty": "RSA"}}', 'not a JWK Set (no "keys" array)'],
    ['a key that is a number', '{"keys": [1]}', 'a key is not an object'],
    ['a key that is null', '{"keys": [null]}', 'a key is not an object'],
  ])('a file holding %s is a config error that says so', (_what, text, problem) => {
    writeFileSync(path.join(dir, 'bad.json'), text);
    let thrown: unknown;
    try {
      verifierWith({ file: 'bad.json' });
    } catch (err) {
      thrown = err;
    }
    expect(thrown).toBeInstanceOf(ConfigError);
    expect((thrown as ConfigError).problems).toEqual([`identity.jwt issuer '${ISS}': cannot use its JWK Set: ${problem}`]);
  });

  it('a private key, in a file or inline, is a config error', async () => {
    const priv = { ...(await exportJWK(k1.privateKey)), kid: 'k1' };
    expect(priv).toHaveProperty('d');
    writeFileSync(path.join(dir, 'private.json'), JSON.stringify({ keys: [priv] }));
    const problem = [`identity.jwt issuer '${ISS}': cannot use its JWK Set: the set holds a private or symmetric key`];
    expect(() => verifierWith({ file: 'private.json' })).toThrow(expect.objectContaining({ problems: problem }));
    expect(() => verifierWith({ keys: [priv] })).toThrow(expect.objectContaining({ problems: problem }));
  });
});
