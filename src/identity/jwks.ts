/**
 * JWK Sets of one issuer: inline or from a file (fixed at load), or from a URL (fetched,
 * cached, refreshed). A URL key set is refreshed when older than `max_age_s` (in the
 * background; the cached set keeps serving) and when a token names an unknown `kid`, but never
 * more often than once per `cooldown_s`, counted from the last attempt, successful or not: an
 * unknown-kid flood or an issuer that is down cannot make llm-authz hammer the URL. When the
 * URL fails, the last good set keeps serving (known keys keep working; unknown keys fail closed).
 */
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { createLocalJWKSet, errors, type JSONWebKeySet, type JWTVerifyGetKey } from 'jose';
import { ConfigError } from '../core/errors.ts';
import type { JwtIssuerConfig } from './schema.ts';
import { identityLog } from './log.ts';
import { countJwksFetch } from '../telemetry/metrics.ts';

export interface KeySet {
  /** The key for a token's protected header (jose's key-resolver shape). */
  readonly getKey: JWTVerifyGetKey;
  /** Changes whenever the set of keys changes (cached verifications of older generations are re-checked). */
  generation(): number;
  close(): void;
}

const MAX_JWKS_BYTES = 1024 * 1024;

function parseJwks(text: string): JSONWebKeySet {
  const v: unknown = JSON.parse(text);
  if (typeof v !== 'object' || v === null || !Array.isArray((v as { keys?: unknown }).keys)) throw new Error('not a JWK Set (no "keys" array)');
  const keys = (v as { keys: unknown[] }).keys;
  for (const k of keys) {
    if (typeof k !== 'object' || k === null) throw new Error('a key is not an object');
    if ('d' in k || (k as { kty?: unknown }).kty === 'oct') throw new Error('the set holds a private or symmetric key');
  }
  return v as JSONWebKeySet;
}

function staticKeySet(jwks: JSONWebKeySet): KeySet {
  const local = createLocalJWKSet(jwks);
  return { getKey: local, generation: () => 0, close: () => undefined };
}

export interface RemoteOptions {
  readonly url: string;
  readonly issuer: string;
  readonly maxAgeMs: number;
  readonly cooldownMs: number;
  readonly timeoutMs: number;
  readonly now?: () => number;
}

export function remoteKeySet(o: RemoteOptions): KeySet & { refreshes(): number } {
  const now = o.now ?? Date.now;
  let local: JWTVerifyGetKey | undefined;
  let digest = '';
  let generation = 0;
  let fetchedAt = -Infinity;
  let attemptedAt = -Infinity;
  let attempts = 0;
  let pending: Promise<void> | undefined;
  let closed = false;

  const fetchOnce = async (): Promise<void> => {
    attemptedAt = now();
    attempts++;
    try {
      const res = await fetch(o.url, { signal: AbortSignal.timeout(o.timeoutMs), redirect: 'error', headers: { accept: 'application/json' } });
      if (res.status !== 200) throw new Error(`HTTP ${res.status}`);
      const text = await res.text();
      if (text.length > MAX_JWKS_BYTES) throw new Error('the key set is too large');
      const jwks = parseJwks(text);
      const d = createHash('sha256').update(text).digest('hex');
      fetchedAt = now();
      countJwksFetch('ok');
      if (d !== digest) {
        local = createLocalJWKSet(jwks);
        digest = d;
        generation++;
        identityLog().info({ issuer: o.issuer, keys: jwks.keys.length, generation }, 'jwks refreshed');
      }
    } catch (err) {
      countJwksFetch('failed');
      identityLog().warn(
        {
          issuer: o.issuer,
          error: err instanceof Error ? err.name : 'error',
          cause: err instanceof Error && !(err instanceof SyntaxError) ? err.message.slice(0, 200) : undefined,
          serving_cached: local !== undefined,
        },
        'jwks refresh failed',
      );
    }
  };

  /** One fetch at a time; none within the cool-down (a shorter one while no set was ever loaded). */
  const refresh = (): Promise<void> => {
    if (pending) return pending;
    const wait = local === undefined ? Math.min(o.cooldownMs, 1000) : o.cooldownMs;
    if (closed || now() - attemptedAt < wait) return Promise.resolve();
    pending = fetchOnce().finally(() => {
      pending = undefined;
    });
    return pending;
  };

  void refresh();

  const getKey: JWTVerifyGetKey = async (header, token) => {
    if (local === undefined) await refresh();
    else if (now() - fetchedAt > o.maxAgeMs) void refresh();
    const current = local;
    if (current === undefined) throw new errors.JWKSNoMatchingKey('the key set is not available');
    try {
      return await current(header, token);
    } catch (err) {
      if (!(err instanceof errors.JWKSNoMatchingKey)) throw err;
      await refresh();
      if (local === undefined || local === current) throw err;
      return await local(header, token);
    }
  };

  return {
    getKey,
    generation: () => generation,
    refreshes: () => attempts,
    close() {
      closed = true;
    },
  };
}

/** The key set an issuer's config names; file and inline sets are read and checked now. */
export function keySetFor(issuer: JwtIssuerConfig, baseDir: string, source: string): KeySet {
  const j = issuer.jwks;
  if (j.url !== undefined) {
    return remoteKeySet({ url: j.url, issuer: issuer.issuer, maxAgeMs: j.max_age_s * 1000, cooldownMs: j.cooldown_s * 1000, timeoutMs: j.timeout_ms });
  }
  try {
    if (j.file !== undefined) {
      const file = path.resolve(baseDir, j.file);
      return staticKeySet(parseJwks(readFileSync(file, 'utf8')));
    }
    return staticKeySet(parseJwks(JSON.stringify({ keys: j.keys ?? [] })));
  } catch (err) {
    throw new ConfigError(source, [`identity.jwt issuer '${issuer.issuer}': cannot use its JWK Set: ${err instanceof Error ? err.message.slice(0, 200) : 'error'}`]);
  }
}
