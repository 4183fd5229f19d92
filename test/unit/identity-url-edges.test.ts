/**
 * A credential in the URL, decided at its edges: a query value holding the credential a header
 * presents (not only an llm-authz key), from each credential header, with or without `Bearer`;
 * the 16-character floor for that search; a credential-named parameter without a value; a key
 * percent-encoded in a value or in the path; how many times a name is decoded; and an ordinary
 * query with no credential header at all. Cases no unit test decided.
 */
import { describe, expect, it } from 'vitest';
import { urlCredential } from '../../src/identity/url-credential.ts';
import { ctxOf, UNIT_KEY_2 } from '../helpers/runtime.ts';

const IN_VALUE = 'a query parameter holds a credential; send it in a header';
const OPAQUE = 'opaque-token-0123456789';

const check = (path: string, headers: Record<string, string> = {}) => urlCredential(ctxOf({ path, headers }));

describe('a query value holding the presented credential', () => {
  it('is refused whichever credential header presents it, with or without a bearer prefix', () => {
    for (const headers of [
      { authorization: `Bearer ${OPAQUE}` },
      { authorization: `bearer   ${OPAQUE}` },
      { 'x-api-key': OPAQUE },
      { 'api-key': OPAQUE },
      { 'x-goog-api-key': OPAQUE },
    ]) {
      expect(check(`/v1/chat/completions?a=1&state=xx${OPAQUE}yy`, headers)).toBe(IN_VALUE);
      expect(check('/v1/chat/completions?a=1&state=xx', headers)).toBeUndefined();
    }
  });

  it('is searched for from 16 characters on, not shorter', () => {
    const sixteen = 'abcdefghijklmnop';
    expect(check(`/v1/chat/completions?q=${sixteen}`, { authorization: `Bearer ${sixteen}` })).toBe(IN_VALUE);
    expect(check(`/v1/chat/completions?q=${sixteen.slice(0, 15)}`, { authorization: `Bearer ${sixteen.slice(0, 15)}` })).toBeUndefined();
  });

  it('an ordinary query passes without any credential header', () => {
    expect(check('/v1/chat/completions?api-version=2024-10-21&alt=sse')).toBeUndefined();
  });
});

describe('credential names and encoded keys', () => {
  it('a credential-named parameter without a value is refused', () => {
    expect(check('/v1/models?alt=sse&key')).toBe("a credential in the URL query ('key') is refused; send it in a header");
    expect(check('/v1/models?API_KEY;alt=sse')).toBe("a credential in the URL query ('api_key') is refused; send it in a header");
  });

  it('a key percent-encoded in a value or in the path is refused', () => {
    const encoded = UNIT_KEY_2.replace(/_/g, '%5F');
    expect(check(`/v1/chat/completions?q=${encoded}`)).toBe(IN_VALUE);
    expect(check(`/v1/models/${encoded}`)).toBe('the URL path holds a credential');
  });

  it('a name is decoded up to three nested encodings; a fourth is refused whatever it names', () => {
    // 'k' is %6B; each further encoding turns the leading % into %25.
    expect(check('/v1/models?%25256Bey=1')).toBe("a credential in the URL query ('key') is refused; send it in a header");
    expect(check('/v1/models?%2525256Bey=1')).toBe('a query parameter name is encoded too many times');
    expect(check('/v1/models?%252561=1')).toBeUndefined();
    expect(check('/v1/models?%25252561=1')).toBe('a query parameter name is encoded too many times');
  });
});
