import { CLIENT_CREDENTIAL_HEADERS } from '../apis/index.ts';
import type { RequestContext } from '../envoy/request-context.ts';

/**
 * Headers where SDKs put an API key (each API profile's `clientCredentialHeaders`: OpenAI-style
 * bearer, Anthropic's x-api-key, Azure OpenAI's api-key, Gemini's x-goog-api-key). On allow,
 * Envoy removes all of them before forwarding (src/envoy/response.ts), so an llm-authz key never
 * reaches a provider. Query parameters (Gemini's `?key=`) are not read: a key in the URL lands in
 * access logs and traces.
 */
export const CREDENTIAL_HEADERS: readonly string[] = CLIENT_CREDENTIAL_HEADERS;

/** Longer credential headers are refused before any parsing (`token_too_large`). */
export const MAX_CREDENTIAL_LENGTH = 65_536;

/**
 * An AWS Signature Version 4 authorization: a client signing with its own AWS key (the AWS SDKs'
 * default for Bedrock). It holds no secret llm-authz can check, so it is malformed here; its
 * commas are the scheme's own, not a repeated header.
 */
const SIGV4_AUTHORIZATION = /^AWS4-HMAC-SHA256\s/;

export type PresentedCredential = { kind: 'none' } | { kind: 'conflict' } | { kind: 'malformed' } | { kind: 'too_large' } | { kind: 'token'; token: string; header: string };

/** `Bearer TOKEN` (the scheme in any case, then white space, then a token without white space). */
const BEARER = /^bearer\s+\S+$/i;
const SPACE = /\s/;

/** Where the token of a `Bearer TOKEN` value starts: after the scheme's 6 letters and the white space. */
function bearerTokenStart(value: string): number {
  let i = 6;
  while (i < value.length && SPACE.test(value.charAt(i))) i++;
  return i;
}

const NONE: PresentedCredential = Object.freeze({ kind: 'none' });
const CONFLICT: PresentedCredential = Object.freeze({ kind: 'conflict' });
const MALFORMED: PresentedCredential = Object.freeze({ kind: 'malformed' });
const TOO_LARGE: PresentedCredential = Object.freeze({ kind: 'too_large' });

/**
 * The one credential a request presents in the API-key headers. Two different values across
 * them (e.g. a bearer token and an x-api-key, or an api-key and an x-goog-api-key) are a
 * conflict, never a choice; the same value in several of them is one credential.
 */
export function presentedCredential(ctx: RequestContext): PresentedCredential {
  let found: { kind: 'token'; token: string; header: string } | undefined;
  for (const header of CREDENTIAL_HEADERS) {
    const raw = ctx.headers.get(header);
    if (raw === undefined) continue;
    if (raw.length > MAX_CREDENTIAL_LENGTH) return TOO_LARGE;
    let token = raw.trim();
    if (header === 'authorization' && SIGV4_AUTHORIZATION.test(token)) return MALFORMED;
    // A repeated header arrives joined with ','; no credential contains one.
    if (token.includes(',')) return CONFLICT;
    if (header === 'authorization') {
      if (!BEARER.test(token)) return MALFORMED;
      token = token.slice(bearerTokenStart(token));
    }
    if (token === '') return MALFORMED;
    if (found !== undefined && found.token !== token) return CONFLICT;
    found ??= { kind: 'token', token, header };
  }
  return found ?? NONE;
}
