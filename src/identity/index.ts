/**
 * The identity phase: runs every configured method; a rejected credential denies, one
 * authentication wins, nothing presented is `no_credentials`.
 */
import { fail, ok, type Outcome } from '../pipeline/reasons.ts';
import type { RequestContext } from '../envoy/request-context.ts';
import { presentedCredential } from './credentials.ts';
import type { Identity, IdentityMethod } from './types.ts';
import type { IdentityConfig } from './schema.ts';
import type { BuildContext } from '../config/runtime.ts';
import { createApiKeyMethod } from './api-key.ts';

export type Identify = (ctx: RequestContext) => Promise<Outcome<Identity>>;

export function createIdentifier(methods: readonly IdentityMethod[]): Identify {
  return async (ctx) => {
    let found: Identity | undefined;
    for (const m of methods) {
      const r = await m.authenticate(ctx);
      if (r.kind === 'rejected') return fail(r.reason, r.detail);
      if (r.kind === 'authenticated') {
        if (found !== undefined) return fail('conflicting_credentials', 'more than one identity method matched');
        found = r.identity;
      }
    }
    if (found !== undefined) return ok(found);
    // Something was presented that no configured method understands.
    if (presentedCredential(ctx).kind !== 'none') return fail('unknown_credentials', 'no identity method accepts this credential');
    return fail('no_credentials');
  };
}

export type { Identity, IdentityMethod } from './types.ts';

/** The identity phase for a config: every configured method, in precedence order. */
export function createIdentifierFromConfig(config: IdentityConfig, _ctx: BuildContext): Identify {
  return createIdentifier([createApiKeyMethod(config.api_keys)]);
}
