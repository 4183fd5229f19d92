/**
 * After the methods have named the caller: its entitlement record (an API key's own, else the
 * first matching `identity.entitlements` rule) and the revocation list. A revoked identity is
 * denied (`revoked_identity`) whatever credential it presented; the deny still names it, so the
 * audit record shows who was turned away.
 */
import { fail, type DenyReason } from '../core/reasons.ts';
import type { RequestContext } from '../envoy/request-context.ts';
import { withRuleEntitlement, type EntitlementRule } from './entitlement.ts';
import type { RevocationList } from './revocation-list.ts';
import type { Identity, IdentityOutcome } from './types.ts';

export type IdentifyFn = (ctx: RequestContext) => IdentityOutcome | Promise<IdentityOutcome>;

export interface AccessControls {
  readonly rules: readonly EntitlementRule[];
  readonly revocations: RevocationList | undefined;
  readonly now: () => number;
}

function denied(reason: DenyReason, detail: string | undefined, identity: Identity): IdentityOutcome {
  const f = fail(reason, detail);
  return f.ok ? f : { ...f, identity };
}

export function withAccessControls(identify: IdentifyFn, c: AccessControls): IdentifyFn {
  if (c.rules.length === 0 && c.revocations === undefined) return identify;
  return async (ctx) => {
    const who = await identify(ctx);
    const nowMs = c.now();
    if (!who.ok) {
      return who.identity === undefined ? who : { ...who, identity: withRuleEntitlement(who.identity, c.rules, nowMs) };
    }
    const id = withRuleEntitlement(who.value, c.rules, nowMs);
    const revoked = c.revocations?.current().match(id, ctx.source.principal);
    if (revoked !== undefined) return denied('revoked_identity', revoked, id);
    return { ok: true, value: id };
  };
}
