/**
 * Claims that Envoy's jwt_authn filter already verified (payload_in_metadata), read from the
 * CheckRequest's metadata_context. Not re-verified: only Envoy can put them there. The issuer
 * must be one the config accepts from Envoy.
 */
import type { RequestContext } from '../envoy/request-context.ts';
import { findingFromPayload } from './claims.ts';
import type { EnvoyJwtConfig } from './schema.ts';
import { ABSENT, type IdentityMethod, type IdentityResult } from './types.ts';

/** Envoy checked `exp`; it is checked again here (cheap), in case the payload outlived the request that verified it. */
const SKEW_S = 60;

export function createEnvoyJwtMethod(config: EnvoyJwtConfig, claims: readonly string[], now: () => number = Date.now): IdentityMethod {
  const issuers = new Map(config.issuers.map((i) => [i.issuer, i]));
  return {
    name: 'envoy_jwt',
    authenticate(ctx: RequestContext): IdentityResult {
      const ns = ctx.filterMetadata[config.namespace];
      const payload = ns !== undefined && Object.hasOwn(ns, config.payload_key) ? ns[config.payload_key] : undefined;
      if (payload === undefined) return ABSENT;
      if (typeof payload !== 'object' || payload === null || Array.isArray(payload)) {
        return { kind: 'rejected', reason: 'malformed_credentials', detail: 'the verified JWT payload from Envoy is not an object' };
      }
      const iss = payload['iss'];
      const issuer = typeof iss === 'string' ? issuers.get(iss) : undefined;
      if (issuer === undefined) return { kind: 'rejected', reason: 'unknown_issuer', detail: 'the Envoy-verified token issuer is not accepted' };
      const exp = payload['exp'];
      if (typeof exp === 'number' && exp + SKEW_S <= now() / 1000) return { kind: 'rejected', reason: 'expired_credentials', detail: 'the Envoy-verified token has expired' };
      const r = findingFromPayload('envoy_jwt', payload, issuer.issuer, issuer, claims);
      return r.ok ? { kind: 'authenticated', identity: r.finding } : { kind: 'rejected', reason: r.reason, detail: r.detail };
    },
  };
}
