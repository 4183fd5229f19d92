import type { RequestContext } from '../envoy/request-context.ts';

/** Headers where SDKs put an API key: OpenAI-style bearer, Anthropic-style x-api-key. */
export const CREDENTIAL_HEADERS = ['authorization', 'x-api-key'] as const;

/** Longer credential headers are refused before any parsing (`token_too_large`). */
export const MAX_CREDENTIAL_LENGTH = 65_536;

export type PresentedCredential =
  | { kind: 'none' }
  | { kind: 'conflict' }
  | { kind: 'malformed' }
  | { kind: 'too_large' }
  | { kind: 'token'; token: string; header: (typeof CREDENTIAL_HEADERS)[number] };

/**
 * The one credential a request presents in the API-key headers. Two different values
 * (e.g. a bearer token and an x-api-key) are a conflict, never a choice.
 */
export function presentedCredential(ctx: RequestContext): PresentedCredential {
  let found: { token: string; header: (typeof CREDENTIAL_HEADERS)[number] } | undefined;
  for (const header of CREDENTIAL_HEADERS) {
    const raw = ctx.headers.get(header);
    if (raw === undefined) continue;
    if (raw.length > MAX_CREDENTIAL_LENGTH) return { kind: 'too_large' };
    let token = raw.trim();
    if (header === 'authorization') {
      const m = /^bearer\s+(\S+)$/i.exec(token);
      if (m === null || m[1] === undefined) return { kind: 'malformed' };
      token = m[1];
    }
    if (token === '' || token.includes(',')) return { kind: token === '' ? 'malformed' : 'conflict' };
    if (found !== undefined && found.token !== token) return { kind: 'conflict' };
    found ??= { token, header };
  }
  return found === undefined ? { kind: 'none' } : { kind: 'token', ...found };
}
