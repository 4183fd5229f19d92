import type { DenyReason } from '../core/reasons.ts';
import type { RequestContext } from '../envoy/request-context.ts';
import type { JsonValue } from '../core/struct.ts';

export type IdentityMethodName = 'spiffe' | 'jwt' | 'envoy_jwt' | 'api_key';

/** Who is calling. Never holds a secret: `credentialId` is a public id, not the credential. */
export interface Identity {
  /** The method that established the identity (the highest-precedence one, when several did). */
  readonly method: IdentityMethodName;
  /** The workload (service, job, agent runtime) the credential belongs to. */
  readonly workload: string;
  /** The agent acting, when distinct from the workload. */
  readonly agent: string | undefined;
  /** The human on whose behalf the call is made, when known. */
  readonly user: string | undefined;
  readonly issuer: string | undefined;
  /** A public id of the credential (API key id, JWT `jti` or key id), never the credential. */
  readonly credentialId: string | undefined;
  readonly scopes: Scopes;
  /** Every method that authenticated this request, in precedence order. */
  readonly methods?: readonly IdentityMethodName[] | undefined;
  /** Token claims reduced to the configured allowlist (empty for non-token methods). */
  readonly claims?: Readonly<Record<string, JsonValue>> | undefined;
  /** The entitlement record (the API key's, or the first matching `identity.entitlements` rule). */
  readonly entitlement?: Entitlement | undefined;
  /** Issuer and `sub` of every token that authenticated the request (for the revocation list). */
  readonly tokenSubjects?: readonly { readonly issuer: string; readonly subject: string }[] | undefined;
}

/** Who owns and approved an entitlement, and whether its review is overdue at this decision. */
export interface Entitlement {
  /** `api_key` (the key's own record) or `rule` (an `identity.entitlements` rule). */
  readonly source: 'api_key' | 'rule';
  /** The key id or the rule id. */
  readonly id: string;
  readonly owner: string | undefined;
  readonly approvedBy: string | undefined;
  readonly approvedAtMs: number | undefined;
  readonly reviewByMs: number | undefined;
  /** `review_by` has passed at the time of this decision. */
  readonly reviewOverdue: boolean;
}

/** The outcome of the identity phase; a deny may still name who was denied (a revoked identity, a revoked or expired key whose secret matched). */
export type IdentityOutcome = { ok: true; value: Identity } | { ok: false; reason: DenyReason; detail?: string; identity?: Identity };

export interface Scopes {
  /** Model names or globs; undefined = not restricted by the credential. */
  readonly models: readonly string[] | undefined;
  readonly providers: readonly string[] | undefined;
  /** Tool (function) names the model may be offered; undefined = not restricted. */
  readonly tools?: readonly string[] | undefined;
  /** Upper bound on max_tokens; undefined = not restricted. */
  readonly maxTokens?: number | undefined;
}

/** What one method found out; the identifier merges these into one `Identity`. */
export interface Finding {
  readonly method: IdentityMethodName;
  readonly workload: string | undefined;
  readonly agent: string | undefined;
  readonly user: string | undefined;
  readonly issuer: string | undefined;
  readonly credentialId: string | undefined;
  readonly scopes: Scopes | undefined;
  readonly claims: Readonly<Record<string, JsonValue>> | undefined;
  /** The token's `sub` (JWT methods). */
  readonly subject?: string | undefined;
  readonly entitlement?: Entitlement | undefined;
}

export type IdentityResult =
  | { readonly kind: 'authenticated'; readonly identity: Finding }
  /** Nothing this method understands was presented. */
  | { readonly kind: 'absent' }
  /**
   * A credential of this method was presented and is not acceptable. `holder`: who it belongs
   * to, only when the credential itself was proven (a revoked or expired key whose secret matched).
   */
  | { readonly kind: 'rejected'; readonly reason: DenyReason; readonly detail?: string; readonly holder?: Finding };

/** One identity mechanism. Built at load time; `authenticate` runs per request. */
export interface IdentityMethod {
  readonly name: IdentityMethodName;
  authenticate(ctx: RequestContext): IdentityResult | Promise<IdentityResult>;
  /** Releases timers and watchers. */
  close?(): void;
}

export const UNRESTRICTED: Scopes = { models: undefined, providers: undefined };

/** A method's answer when the request presents nothing it reads (made once: a result is never changed). */
export const ABSENT: IdentityResult = Object.freeze({ kind: 'absent' });
