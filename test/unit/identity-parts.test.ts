/** Smaller parts of the identity phase: claim lookup, key-set refresh by age, start-up errors, odd bytes. */
import { mkdtempSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { claimAt, reduceClaims } from '../../src/identity/claims.ts';
import { remoteKeySet } from '../../src/identity/jwks.ts';
import { createIdentifierFromConfig } from '../../src/identity/index.ts';
import { identitySchema } from '../../src/identity/schema.ts';
import { parseSpiffeId } from '../../src/identity/spiffe-id.ts';
import { ConfigError } from '../../src/core/errors.ts';
import { waitFor } from '../../devstack/ports.ts';
import { identityCtx, signingKey } from '../helpers/identity.ts';
import { startJwksServer } from '../helpers/jwks-server.ts';

describe('claims', () => {
  const k8s = {
    iss: 'https://kubernetes.default.svc',
    sub: 'system:serviceaccount:apps:chat',
    'kubernetes.io': { namespace: 'apps', serviceaccount: { name: 'chat', uid: 'u1' } },
  };

  it('finds dotted claims, including keys that contain dots (Kubernetes tokens)', () => {
    expect(claimAt(k8s, 'kubernetes.io.serviceaccount.name')).toBe('chat');
    expect(claimAt(k8s, 'kubernetes.io.namespace')).toBe('apps');
    expect(claimAt(k8s, 'kubernetes.io.nope')).toBeUndefined();
  });

  it('keeps only allowlisted claims', () => {
    expect(reduceClaims({ ...k8s, email: 'x@example.com' }, ['sub', 'kubernetes.io.namespace'])).toEqual({ sub: k8s.sub, 'kubernetes.io.namespace': 'apps' });
  });

  it('parses SPIFFE IDs by the spec', () => {
    expect(parseSpiffeId('spiffe://prod.example/ns/a/sa/b')).toEqual({ trustDomain: 'prod.example', path: '/ns/a/sa/b', id: 'spiffe://prod.example/ns/a/sa/b' });
    for (const bad of [
      'spiffe://Prod.example/x',
      'spiffe://a/b/',
      'spiffe://a//b',
      'spiffe://a/./b',
      'spiffe://a:8080/b',
      'spiffe://a/b?q',
      'spiffe://user@a/b',
      'http://a/b',
      'spiffe://',
    ]) {
      expect(parseSpiffeId(bad), bad).toBeUndefined();
    }
  });
});

describe('remote key sets', () => {
  it('refreshes a key set older than max_age in the background, serving the cached one meanwhile', async () => {
    const k1 = await signingKey('k1');
    const server = await startJwksServer([k1.publicJwk]);
    let clock = 1_000_000;
    const ks = remoteKeySet({ url: server.url, issuer: 'i', maxAgeMs: 60_000, cooldownMs: 1000, timeoutMs: 2000, now: () => clock });
    try {
      await waitFor('the first fetch', () => (ks.generation() === 1 ? true : undefined), 5000);
      const header = { alg: 'RS256', kid: 'k1' };
      const token = { payload: '', signature: '' } as never;
      await ks.getKey(header, token);
      expect(server.hits()).toBe(1);
      clock += 61_000;
      const k2 = await signingKey('k2');
      server.setKeys([k1.publicJwk, k2.publicJwk]);
      await ks.getKey(header, token); // served from the cached set, refresh started
      await waitFor('the background refresh', () => (ks.generation() === 2 ? true : undefined), 5000);
      expect(server.hits()).toBe(2);
      await ks.getKey({ alg: 'RS256', kid: 'k2' }, token);
    } finally {
      ks.close();
      await server.close();
    }
  });
});

describe('start-up and odd input', () => {
  it('a missing key store file is a config error naming the file', () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'identity-parts-'));
    expect(() => createIdentifierFromConfig(identitySchema.parse({ key_store: { file: 'nope.json' } }), { source: 'cfg.yaml', version: 'v', baseDir: dir })).toThrow(ConfigError);
    expect(() => createIdentifierFromConfig(identitySchema.parse({ key_store: { file: 'nope.json' } }), { source: 'cfg.yaml', version: 'v', baseDir: dir })).toThrow(
      /identity\.key_store\.file: key store .*nope\.json: cannot read the file: ENOENT/,
    );
  });

  it('credentials with non-ASCII or replacement characters are malformed, not a crash', async () => {
    const identify = createIdentifierFromConfig(identitySchema.parse({}), { source: 'cfg.yaml', version: 'v', baseDir: '/' });
    for (const v of ['lla_abcd1234_\u00ff\u00fe\u00fdxxxxxxxxxxxxxxxxxx', 'lla_abcd1234_\ufffd\ufffdxxxxxxxxxxxxxxxxxxxx']) {
      expect(await identify(identityCtx({ headers: { authorization: `Bearer ${v}` } }))).toMatchObject({ ok: false, reason: 'malformed_credentials' });
    }
    expect(await identify(identityCtx({ headers: { 'x-api-key': '\ufffd\ufffd' } }))).toMatchObject({ ok: false, reason: 'unknown_credentials' });
  });
});
