import type { ProviderCredential, ProviderRuntime } from '../providers/runtime.ts';
import type { RequestContext } from '../envoy/request-context.ts';
import type { Identity } from '../identity/types.ts';
import type { LlmRequest } from '../llm/types.ts';
import type { ReasonCode } from '../core/reasons.ts';
import type { QuotaRemaining } from './vars.ts';

/** What an allow obliges Envoy to do: where to route, which provider credential to attach. */
export interface Obligations {
  readonly provider: ProviderRuntime;
  /** The credential to attach, when a rule names one; else the provider's own. */
  readonly credential?: ProviderCredential | undefined;
  /** Extra request headers to set upstream (OVERWRITE). */
  readonly headers?: readonly (readonly [string, string])[] | undefined;
}

/** What a shadow policy set would have decided (never changes the answer). */
export interface ShadowResult {
  readonly effect: 'allow' | 'deny';
  readonly reason: ReasonCode;
  readonly rule: string | undefined;
  readonly policyVersion: string;
  /** True when the shadow effect differs from the enforced one. */
  readonly disagrees: boolean;
}

export interface Decision {
  readonly effect: 'allow' | 'deny';
  readonly reason: ReasonCode;
  /** A safe, human-readable detail for the client and the audit record (never a secret). */
  readonly detail: string | undefined;
  /** Version (content hash) of the policy that decided. */
  readonly policyVersion: string;
  /** The rule that decided, when one did. */
  readonly rule: string | undefined;
  readonly matchedRules: readonly string[];
  readonly obligations: Obligations | undefined;
  readonly shadow?: ShadowResult | undefined;
}

/** What the policy phase decides on. */
export interface DecisionInput {
  readonly ctx: RequestContext;
  readonly identity: Identity;
  readonly llm: LlmRequest;
  /** The quotas that apply to the request and what is left of each (`quota` in CEL). */
  readonly quota?: ReadonlyMap<string, QuotaRemaining> | undefined;
  /**
   * performance.now() after which the Check is out of time: rule evaluation stops between rules
   * and the decision is a `timeout` deny (an evaluation cannot be interrupted inside a rule).
   */
  readonly deadline?: number | undefined;
}

export type Decide = (input: DecisionInput) => Decision;
