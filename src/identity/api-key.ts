/**
 * Scoped API keys: `lla_<id>_<secret>` (the prefix lets secret scanners find leaked keys).
 * Only `sha256:<hex>` of the whole key is stored, inline in the config or in a key store file;
 * the id finds the record, the hash is compared in constant time, and only then are the
 * record's state (revoked, expired) and binding used.
 */
import { createHash, hash, timingSafeEqual } from 'node:crypto';
import type { ApiKeyConfig, StoredKey } from './schema.ts';
import type { RequestContext } from '../envoy/request-context.ts';
import { presentedCredential } from './credentials.ts';
import type { KeyStore } from './key-store.ts';
import { atDecision, entitlementRecord, type EntitlementRecord } from './entitlement.ts';
import { ABSENT, type Finding, type IdentityMethod, type IdentityResult } from './types.ts';

import { API_KEY_PREFIX, API_KEY_RE as KEY_RE } from '../core/key-shape.ts';

export { API_KEY_PREFIX };

type KeyRecord = ApiKeyConfig & Partial<Pick<StoredKey, 'revoked'>> & { readonly expiresAtMs?: number | undefined };

export function hashApiKey(key: string): string {
  return `sha256:${createHash('sha256').update(key, 'utf8').digest('hex')}`;
}

/** A record's stored hash as bytes, decoded once per record (records live until a reload), not per request. */
const hashBytesOf = new WeakMap<KeyRecord, Buffer>();
function hashBytes(record: KeyRecord): Buffer {
  let b = hashBytesOf.get(record);
  if (b === undefined) {
    b = Buffer.from(record.hash.slice('sha256:'.length), 'hex');
    hashBytesOf.set(record, b);
  }
  return b;
}

/** A record's entitlement, built once per record (records live until a reload), not per request. */
const entitlementOf = new WeakMap<KeyRecord, EntitlementRecord>();
function entitlement(record: KeyRecord): EntitlementRecord {
  let e = entitlementOf.get(record);
  if (e === undefined) {
    e = entitlementRecord('api_key', record.id, record);
    entitlementOf.set(record, e);
  }
  return e;
}

function finding(record: KeyRecord, nowMs: number): Finding {
  return {
    method: 'api_key',
    workload: record.workload,
    agent: record.agent,
    user: undefined,
    issuer: undefined,
    credentialId: record.id,
    scopes: { models: record.models, providers: record.providers, tools: record.tools, maxTokens: record.max_tokens },
    claims: undefined,
    entitlement: atDecision(entitlement(record), nowMs),
  };
}

export interface ApiKeyOptions {
  readonly store?: KeyStore | undefined;
  readonly now?: () => number;
}

export function createApiKeyMethod(keys: readonly ApiKeyConfig[], opts: ApiKeyOptions = {}): IdentityMethod {
  const inline = new Map<string, KeyRecord>(keys.map((k) => [k.id, k]));
  const now = opts.now ?? Date.now;
  const lookup = (id: string): KeyRecord | undefined => inline.get(id) ?? opts.store?.get(id);

  return {
    name: 'api_key',
    authenticate(ctx: RequestContext): IdentityResult {
      const cred = presentedCredential(ctx);
      if (cred.kind === 'none') return ABSENT;
      if (cred.kind === 'conflict') return { kind: 'rejected', reason: 'conflicting_credentials' };
      if (cred.kind === 'too_large') return { kind: 'rejected', reason: 'token_too_large' };
      if (cred.kind === 'malformed') return { kind: 'rejected', reason: 'malformed_credentials' };
      if (!cred.token.startsWith(API_KEY_PREFIX)) return ABSENT;
      const m = KEY_RE.exec(cred.token);
      if (m === null || m[1] === undefined) {
        return { kind: 'rejected', reason: 'malformed_credentials', detail: 'not an llm-authz API key' };
      }
      const record = lookup(m[1]);
      const presented = hash('sha256', cred.token, 'buffer');
      if (record === undefined) return { kind: 'rejected', reason: 'unknown_credentials' };
      if (!timingSafeEqual(presented, hashBytes(record))) return { kind: 'rejected', reason: 'invalid_credentials' };
      // From here the secret matched: a deny names the key's holder (for the audit record).
      const nowMs = now();
      if (record.revoked === true) return { kind: 'rejected', reason: 'revoked_credentials', detail: `key '${record.id}' is revoked`, holder: finding(record, nowMs) };
      if (record.expiresAtMs !== undefined && record.expiresAtMs <= nowMs) {
        return { kind: 'rejected', reason: 'expired_credentials', detail: `key '${record.id}' has expired`, holder: finding(record, nowMs) };
      }
      return { kind: 'authenticated', identity: finding(record, nowMs) };
    },
    close: () => opts.store?.close(),
  };
}
