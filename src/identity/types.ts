import type { DenyReason } from '../pipeline/reasons.ts';
import type { RequestContext } from '../envoy/request-context.ts';

export type IdentityMethodName = 'api_key';

/** Who is calling. Never holds a secret: `credentialId` is a public id, not the credential. */
export interface Identity {
  readonly method: IdentityMethodName;
  /** The workload (service, job, agent runtime) the credential belongs to. */
  readonly workload: string;
  /** The agent acting, when distinct from the workload. */
  readonly agent: string | undefined;
  /** The human on whose behalf the call is made, when known. */
  readonly user: string | undefined;
  readonly issuer: string | undefined;
  readonly credentialId: string | undefined;
  readonly scopes: Scopes;
}

export interface Scopes {
  /** Model names or globs; undefined = not restricted by the credential. */
  readonly models: readonly string[] | undefined;
  readonly providers: readonly string[] | undefined;
}

export type IdentityResult =
  | { readonly kind: 'authenticated'; readonly identity: Identity }
  /** Nothing this method understands was presented. */
  | { readonly kind: 'absent' }
  /** A credential of this method was presented and is not acceptable. */
  | { readonly kind: 'rejected'; readonly reason: DenyReason; readonly detail?: string };

/** One identity mechanism. Built at load time; `authenticate` runs per request. */
export interface IdentityMethod {
  readonly name: IdentityMethodName;
  authenticate(ctx: RequestContext): IdentityResult | Promise<IdentityResult>;
}
