import type { ProviderRuntime } from '../providers/runtime.ts';
import type { RequestContext } from '../envoy/request-context.ts';
import type { Identity } from '../identity/types.ts';
import type { LlmRequest } from '../llm/types.ts';
import type { ReasonCode } from '../pipeline/reasons.ts';

/** What an allow obliges Envoy to do: where to route, which provider credential to attach. */
export interface Obligations {
  readonly provider: ProviderRuntime;
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
}

/** What the policy phase decides on. */
export interface DecisionInput {
  readonly ctx: RequestContext;
  readonly identity: Identity;
  readonly llm: LlmRequest;
}

export type Decide = (input: DecisionInput) => Decision;
