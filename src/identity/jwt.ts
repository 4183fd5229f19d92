/**
 * JWT bearer tokens (`jose`): Kubernetes projected service-account tokens, SPIFFE JWT-SVIDs,
 * token-exchange tokens. The issuer is looked up from the unverified `iss`, then the token is
 * verified against that issuer's keys, algorithm allowlist (asymmetric only), audiences and
 * clock skew. `jku`/`x5u`/`jwk`/`x5c` headers are never followed: keys come only from the
 * configured key set. A verified token is cached until its expiry.
 */
import { decodeJwt, decodeProtectedHeader, errors, jwtVerify } from 'jose';
import type { RequestContext } from '../envoy/request-context.ts';
import type { DenyReason } from '../core/reasons.ts';
import { findingFromPayload } from './claims.ts';
import { presentedCredential } from './credentials.ts';
import { keySetFor, type KeySet } from './jwks.ts';
import type { JwtConfig, JwtIssuerConfig } from './schema.ts';
import { TokenCache } from './token-cache.ts';
import { ABSENT, type Finding, type IdentityMethod, type IdentityResult } from './types.ts';

const JWS_COMPACT = /^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*$/;
const MAX_KID_LENGTH = 256;

/** Three base64url parts: a JWS in compact form (JWE has five). */
export function looksLikeJwt(token: string): boolean {
  if (!token.startsWith('eyJ')) return false;
  const first = token.indexOf('.');
  const second = first === -1 ? -1 : token.indexOf('.', first + 1);
  return second !== -1 && token.indexOf('.', second + 1) === -1;
}

function methodResult(v: Verified): IdentityResult {
  return v.ok ? { kind: 'authenticated', identity: v.finding } : { kind: 'rejected', reason: v.reason, detail: v.detail };
}

interface Issuer {
  readonly config: JwtIssuerConfig;
  readonly keys: KeySet;
}

export type Verified = { ok: true; finding: Finding } | { ok: false; reason: DenyReason; detail: string };

export interface JwtVerifier {
  /** A token verified before (the verified-token cache) is answered at once, without a promise. */
  verify(token: string): Verified | Promise<Verified>;
  /** Signature verifications run and answers served from the verified-token cache. */
  stats(): { verifications: number; cacheHits: number };
  close(): void;
}

function reject(reason: DenyReason, detail: string): Verified {
  return { ok: false, reason, detail };
}

/** jose's error -> a reason code; the message never quotes the token. */
function reasonOf(err: unknown): Verified {
  if (err instanceof errors.JWTExpired) return reject('expired_credentials', 'the token has expired');
  if (err instanceof errors.JWTClaimValidationFailed) {
    if (err.claim === 'nbf') return reject('not_yet_valid', 'the token is not valid yet (nbf)');
    if (err.claim === 'aud') return reject('wrong_audience', 'the token audience is not accepted');
    if (err.claim === 'iss') return reject('unknown_issuer', 'the token issuer is not trusted');
    if (err.reason === 'missing') return reject('missing_claim', `the token has no '${err.claim}' claim`);
    return reject('invalid_credentials', `the '${err.claim}' claim is not valid`);
  }
  if (err instanceof errors.JWSSignatureVerificationFailed) return reject('bad_signature', 'the token signature does not verify');
  if (err instanceof errors.JWKSNoMatchingKey) return reject('unknown_key', 'no key of the issuer matches the token');
  if (err instanceof errors.JOSEAlgNotAllowed) return reject('unsupported_algorithm', 'the token algorithm is not allowed');
  if (err instanceof errors.JOSENotSupported) return reject('malformed_credentials', 'the token uses an unsupported feature');
  if (err instanceof errors.JOSEError) return reject('malformed_credentials', 'the token is not a valid JWT');
  return reject('invalid_credentials', 'the token could not be verified');
}

export function createJwtVerifier(config: JwtConfig, claims: readonly string[], baseDir: string, source: string, now: () => number = Date.now): JwtVerifier {
  const issuers = new Map<string, Issuer>();
  for (const c of config.issuers) issuers.set(c.issuer, { config: c, keys: keySetFor(c, baseDir, source) });
  // The answer is kept with the finding: a token served from the cache costs no new object.
  const cache = new TokenCache<{ verified: Verified; issuer: Issuer }>(config.cache_entries);
  const generationOf = (v: { issuer: Issuer }): number => v.issuer.keys.generation();
  let verifications = 0;
  let cacheHits = 0;

  function verify(token: string): Verified | Promise<Verified> {
    if (Buffer.byteLength(token, 'utf8') > config.max_token_bytes) return reject('token_too_large', `the token is larger than ${config.max_token_bytes} bytes`);
    if (!JWS_COMPACT.test(token)) return reject('malformed_credentials', 'the token is not a compact JWS');
    const cacheKey = TokenCache.keyOf(token);
    const hit = cache.get(cacheKey, now(), generationOf);
    if (hit !== undefined) {
      cacheHits++;
      return hit.verified;
    }
    return verifyNew(token, cacheKey);
  }

  async function verifyNew(token: string, cacheKey: string): Promise<Verified> {
    let header: ReturnType<typeof decodeProtectedHeader>;
    let iss: unknown;
    try {
      header = decodeProtectedHeader(token);
      iss = decodeJwt(token).iss;
    } catch {
      return reject('malformed_credentials', 'the token is not a valid JWT');
    }
    if (typeof iss !== 'string') return reject('missing_claim', "the token has no 'iss' claim");
    const issuer = issuers.get(iss);
    if (issuer === undefined) return reject('unknown_issuer', 'the token issuer is not trusted');

    const alg = header.alg;
    if (typeof alg !== 'string' || !(issuer.config.algorithms as readonly string[]).includes(alg)) {
      return reject('unsupported_algorithm', 'the token algorithm is not allowed for this issuer');
    }
    if (header.kid !== undefined && (typeof header.kid !== 'string' || header.kid.length > MAX_KID_LENGTH)) {
      return reject('malformed_credentials', 'the token key id is not acceptable');
    }
    let payload: Record<string, unknown>;
    verifications++;
    try {
      const r = await jwtVerify(token, issuer.keys.getKey, {
        issuer: issuer.config.issuer,
        audience: issuer.config.audiences,
        algorithms: issuer.config.algorithms,
        clockTolerance: config.clock_skew_s,
        requiredClaims: ['exp'],
        currentDate: new Date(now()),
      });
      payload = r.payload;
    } catch (err) {
      return reasonOf(err);
    }
    const mapped = findingFromPayload('jwt', payload, issuer.config.issuer, issuer.config, claims);
    if (!mapped.ok) return mapped;
    const verified: Verified = { ok: true, finding: mapped.finding };
    const exp = payload['exp'];
    if (typeof exp === 'number') {
      // Read after verifying: a refresh triggered by this token's kid has already been applied.
      cache.set(cacheKey, { value: { verified, issuer }, expiresAt: exp * 1000, generation: issuer.keys.generation() });
    }
    return verified;
  }

  return {
    verify,
    stats: () => ({ verifications, cacheHits }),
    close() {
      for (const i of issuers.values()) i.keys.close();
    },
  };
}

/** The bearer-token method over a verifier. */
export function createJwtMethod(verifier: JwtVerifier): IdentityMethod {
  return {
    name: 'jwt',
    authenticate(ctx: RequestContext): IdentityResult | Promise<IdentityResult> {
      const cred = presentedCredential(ctx);
      if (cred.kind === 'none') return ABSENT;
      if (cred.kind === 'conflict') return { kind: 'rejected', reason: 'conflicting_credentials' };
      if (cred.kind === 'too_large') return { kind: 'rejected', reason: 'token_too_large' };
      if (cred.kind === 'malformed') return { kind: 'rejected', reason: 'malformed_credentials' };
      if (!looksLikeJwt(cred.token)) return ABSENT;
      const v = verifier.verify(cred.token);
      return v instanceof Promise ? v.then(methodResult) : methodResult(v);
    },
    close: () => verifier.close(),
  };
}
