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

/**
 * The one credential a request presents in the API-key headers. Two different values across
 * them (e.g. a bearer token and an x-api-key, or an api-key and an x-goog-api-key) are a
 * conflict, never a choice; the same value in several of them is one credential.
 */
export function presentedCredential(ctx: RequestContext): PresentedCredential {
  let found: { token: string; header: string } | undefined;
  for (const header of CREDENTIAL_HEADERS) {
    const raw = ctx.headers.get(header);
    if (raw === undefined) continue;
    if (raw.length > MAX_CREDENTIAL_LENGTH) return { kind: 'too_large' };
    let token = raw.trim();
    if (header === 'authorization' && SIGV4_AUTHORIZATION.test(token)) return { kind: 'malformed' };
    // A repeated header arrives joined with ','; no credential contains one.
    if (token.includes(',')) return { kind: 'conflict' };
    if (header === 'authorization') {
      const m = /^bearer\s+(\S+)$/i.exec(token);
      if (m === null || m[1] === undefined) return { kind: 'malformed' };
      token = m[1];
    }
    if (token === '') return { kind: 'malformed' };
    if (found !== undefined && found.token !== token) return { kind: 'conflict' };
    found ??= { token, header };
  }
  return found === undefined ? { kind: 'none' } : { kind: 'token', ...found };
}
