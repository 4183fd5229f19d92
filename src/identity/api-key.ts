/**
 * Scoped API keys: `lla_<id>_<secret>`. The config holds only `sha256:<hex>` of the whole key;
 * the id finds the record, and the hash is compared in constant time.
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import type { ApiKeyConfig } from './schema.ts';
import type { RequestContext } from '../envoy/request-context.ts';
import { presentedCredential } from './credentials.ts';
import type { IdentityMethod, IdentityResult } from './types.ts';

export const API_KEY_PREFIX = 'lla_';
const KEY_RE = /^lla_([A-Za-z0-9]{4,32})_([A-Za-z0-9_-]{16,128})$/;

interface KeyRecord {
  readonly config: ApiKeyConfig;
  readonly hash: Buffer;
}

export function hashApiKey(key: string): string {
  return `sha256:${createHash('sha256').update(key, 'utf8').digest('hex')}`;
}

export function createApiKeyMethod(keys: readonly ApiKeyConfig[]): IdentityMethod {
  const byId = new Map<string, KeyRecord>();
  for (const k of keys) byId.set(k.id, { config: k, hash: Buffer.from(k.hash.slice('sha256:'.length), 'hex') });

  return {
    name: 'api_key',
    authenticate(ctx: RequestContext): IdentityResult {
      const cred = presentedCredential(ctx);
      if (cred.kind === 'none') return { kind: 'absent' };
      if (cred.kind === 'conflict') return { kind: 'rejected', reason: 'conflicting_credentials' };
      if (cred.kind === 'malformed') return { kind: 'rejected', reason: 'malformed_credentials' };
      if (!cred.token.startsWith(API_KEY_PREFIX)) return { kind: 'absent' };
      const m = KEY_RE.exec(cred.token);
      if (m === null || m[1] === undefined) {
        return { kind: 'rejected', reason: 'malformed_credentials', detail: 'not an llm-authz API key' };
      }
      const record = byId.get(m[1]);
      const presented = createHash('sha256').update(cred.token, 'utf8').digest();
      if (record === undefined) return { kind: 'rejected', reason: 'unknown_credentials' };
      if (!timingSafeEqual(presented, record.hash)) return { kind: 'rejected', reason: 'invalid_credentials' };
      const c = record.config;
      return {
        kind: 'authenticated',
        identity: {
          method: 'api_key',
          workload: c.workload,
          agent: c.agent,
          user: undefined,
          issuer: undefined,
          credentialId: c.id,
          scopes: { models: c.models, providers: c.providers },
        },
      };
    },
  };
}
