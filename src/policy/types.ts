import type { ProviderRuntime } from '../config/runtime.ts';
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
