/**
 * When a JWKS URL is fetched again, on a fake clock: the one-second retry of a set never
 * loaded, the whole cool-down between two fetches of a loaded set (each at its exact boundary),
 * the max_age refresh that starts only once the set is older than max_age and that no request
 * waits for, a refetch of unchanged keys that keeps the generation (and so the cached tokens),
 * errors other than an unknown kid that fetch nothing, and close().
 */
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { errors } from 'jose';
import { remoteKeySet } from '../../src/identity/jwks.ts';
import { signingKey, type SigningKey } from '../helpers/identity.ts';
import { startJwksServer, type JwksServer } from '../helpers/jwks-server.ts';

const header = (kid?: string) => (kid === undefined ? { alg: 'RS256' } : { alg: 'RS256', kid });
const TOKEN = { payload: '', signature: '' } as never;

let k1: SigningKey;
let k2: SigningKey;
let server: JwksServer | undefined;
const open: { close(): void }[] = [];

beforeAll(async () => {
  k1 = await signingKey('k1');
  k2 = await signingKey('k2');
});

afterEach(async () => {
  for (const ks of open.splice(0)) ks.close();
  await server?.close();
  server = undefined;
});

async function setUp(o: { cooldownMs: number; maxAgeMs: number; timeoutMs?: number }, keys = [k1.publicJwk]) {
  server = await startJwksServer(keys);
  const clock = { now: 1_000_000 };
  const ks = remoteKeySet({ url: server.url, issuer: 'https://issuer.test', timeoutMs: 5000, ...o, now: () => clock.now });
  open.push(ks);
  return { server, clock, ks };
}

describe('fetching a JWKS URL again', () => {
  it('a set never loaded is retried after one second even when the cool-down is longer, not before', async () => {
    const { server, clock, ks } = await setUp({ cooldownMs: 60_000, maxAgeMs: 300_000 });
    server.setDown(true);
    // getKey waits for the fetch started at creation, which fails.
    await expect(ks.getKey(header('k1'), TOKEN)).rejects.toThrow(errors.JWKSNoMatchingKey);
    expect(ks.refreshes()).toBe(1);
    clock.now += 999;
    await expect(ks.getKey(header('k1'), TOKEN)).rejects.toThrow(errors.JWKSNoMatchingKey);
    expect(ks.refreshes()).toBe(1);
    server.setDown(false);
    clock.now += 1;
    await expect(ks.getKey(header('k1'), TOKEN)).resolves.toBeDefined();
    expect(ks.refreshes()).toBe(2);
    expect(ks.generation()).toBe(1);
  });

  it('a loaded set: an unknown kid fetches again only once the whole cool-down has passed', async () => {
    const { server, clock, ks } = await setUp({ cooldownMs: 60_000, maxAgeMs: 300_000 });
    await ks.getKey(header('k1'), TOKEN);
    expect(ks.refreshes()).toBe(1);
    server.setKeys([k1.publicJwk, k2.publicJwk]);
    clock.now += 59_999;
    await expect(ks.getKey(header('k2'), TOKEN)).rejects.toThrow(errors.JWKSNoMatchingKey);
    expect(ks.refreshes()).toBe(1);
    clock.now += 1;
    await expect(ks.getKey(header('k2'), TOKEN)).resolves.toBeDefined();
    expect(ks.refreshes()).toBe(2);
    expect(ks.generation()).toBe(2);
  });

  it('max_age: no refresh at exactly max_age; older, a refresh that the request does not wait for', async () => {
    const { server, clock, ks } = await setUp({ cooldownMs: 1000, maxAgeMs: 60_000, timeoutMs: 30_000 });
    await ks.getKey(header('k1'), TOKEN);
    clock.now += 60_000;
    await ks.getKey(header('k1'), TOKEN);
    expect(ks.refreshes()).toBe(1);
    clock.now += 1;
    server.hold(); // the issuer is slow: the refresh waits
    const served = await Promise.race([Promise.resolve(ks.getKey(header('k1'), TOKEN)).then(() => 'key'), new Promise((r) => setTimeout(() => r('waited for the refresh'), 5000))]);
    expect(served).toBe('key');
    expect(ks.refreshes()).toBe(2);
    server.release();
    // An unknown kid joins the refresh in flight (within the cool-down it starts none).
    await expect(ks.getKey(header('k2'), TOKEN)).rejects.toThrow(errors.JWKSNoMatchingKey);
    expect(server.hits()).toBe(2);
    expect(ks.refreshes()).toBe(2);
    // The same keys again: the same generation, so tokens verified against it stay cached.
    expect(ks.generation()).toBe(1);
  });

  it('a token that matches several keys (no kid) fetches nothing: only an unknown kid does', async () => {
    const { clock, ks } = await setUp({ cooldownMs: 1000, maxAgeMs: 300_000 }, [k1.publicJwk, k2.publicJwk]);
    await ks.getKey(header('k1'), TOKEN);
    expect(ks.refreshes()).toBe(1);
    clock.now += 1000;
    const several = await Promise.resolve(ks.getKey(header(), TOKEN)).then(
      () => undefined,
      (err: unknown) => err,
    );
    expect(several).toBeInstanceOf(errors.JWKSMultipleMatchingKeys);
    expect(ks.refreshes()).toBe(1);
  });

  it('close() stops every further fetch', async () => {
    const { clock, ks } = await setUp({ cooldownMs: 1000, maxAgeMs: 1000 });
    await ks.getKey(header('k1'), TOKEN);
    ks.close();
    clock.now += 10_000;
    await ks.getKey(header('k1'), TOKEN);
    await expect(ks.getKey(header('k2'), TOKEN)).rejects.toThrow(errors.JWKSNoMatchingKey);
    expect(ks.refreshes()).toBe(1);
  });
});
