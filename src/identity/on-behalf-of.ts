/**
 * On behalf of: a second header carrying the JWT of the human for whom an agent acts, verified
 * with the `jwt` issuers. Its subject (or, for a token-exchange token, its user) becomes the
 * identity's `user`; a presented but invalid token denies.
 */
import type { RequestContext } from '../envoy/request-context.ts';
import { fail, ok, type Outcome } from '../core/reasons.ts';
import type { JwtVerifier } from './jwt.ts';

export interface OnBehalfOf {
  user(ctx: RequestContext): Promise<Outcome<string | undefined>>;
}

/** The optional `Bearer` scheme before the token: then white space, or nothing left. */
const BEARER_SCHEME = /^bearer(?:\s+|$)/i;

export function createOnBehalfOf(header: string, verifier: JwtVerifier): OnBehalfOf {
  return {
    async user(ctx) {
      const raw = ctx.headers.get(header);
      if (raw === undefined) return ok(undefined);
      // `Bearer` alone (no token after the scheme) is an empty token, not a token named "Bearer".
      const token = raw.trim().replace(BEARER_SCHEME, '');
      if (token === '' || token.includes(',')) return fail('malformed_credentials', `the ${header} header must hold one JWT`);
      const v = await verifier.verify(token);
      if (!v.ok) return fail(v.reason, `on-behalf-of token: ${v.detail}`);
      const user = v.finding.user ?? v.finding.workload;
      if (user === undefined) return fail('missing_claim', 'the on-behalf-of token names no user');
      return ok(user);
    },
  };
}
