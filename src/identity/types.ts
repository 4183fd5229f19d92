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
}

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
}

export type IdentityResult =
  | { readonly kind: 'authenticated'; readonly identity: Finding }
  /** Nothing this method understands was presented. */
  | { readonly kind: 'absent' }
  /** A credential of this method was presented and is not acceptable. */
  | { readonly kind: 'rejected'; readonly reason: DenyReason; readonly detail?: string };

/** One identity mechanism. Built at load time; `authenticate` runs per request. */
export interface IdentityMethod {
  readonly name: IdentityMethodName;
  authenticate(ctx: RequestContext): IdentityResult | Promise<IdentityResult>;
  /** Releases timers and watchers. */
  close?(): void;
}

export const UNRESTRICTED: Scopes = { models: undefined, providers: undefined };
