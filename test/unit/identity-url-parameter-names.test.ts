/**
 * A key or the presented credential as a query parameter's name, with or without a value
 * (`?lla_…`, `?lla_…=1`), is refused like one in a value: it lands in access logs and traces all
 * the same.
 */
import { describe, expect, it } from 'vitest';
import { urlCredential } from '../../src/identity/url-credential.ts';
import { ctxOf, UNIT_KEY_2 } from '../helpers/runtime.ts';

const IN_PARAMETER = 'a query parameter holds a credential; send it in a header';
const OPAQUE = 'opaque-token-0123456789';
const check = (path: string, headers: Record<string, string> = {}) => urlCredential(ctxOf({ path, headers }));

describe('a credential as a query parameter name', () => {
  it('refuses an llm-authz key as a name, alone, with a value, or encoded', () => {
    expect(check(`/v1/models?${UNIT_KEY_2}`)).toBe(IN_PARAMETER);
    expect(check(`/v1/models?alt=sse&${UNIT_KEY_2}=1`)).toBe(IN_PARAMETER);
    expect(check(`/v1/models?alt=sse;${UNIT_KEY_2.replace(/_/g, '%5F')}`)).toBe(IN_PARAMETER);
  });

  it('refuses the presented credential as a name', () => {
    expect(check(`/v1/models?alt=sse&${OPAQUE}`, { authorization: `Bearer ${OPAQUE}` })).toBe(IN_PARAMETER);
    expect(check(`/v1/models?x${OPAQUE}=1`, { 'x-api-key': OPAQUE })).toBe(IN_PARAMETER);
  });

  it('passes an ordinary name without a value', () => {
    expect(check('/v1/models?alt=sse&stream', { authorization: `Bearer ${OPAQUE}` })).toBeUndefined();
  });
});
