/**
 * What Envoy is told, for the cases a mutation run showed no other test deciding: the gRPC code
 * of each kind of deny, the bearer challenge of a 401, and the credential headers removed on an
 * allow when the provider has no credential to attach (the caller's own key must not go on).
 */
import { describe, expect, it } from 'vitest';
import { checkRequest } from '../../devstack/grpc-client.ts';
import { allowResponse, denyResponse, type CheckResponse } from '../../src/envoy/response.ts';
import type { Obligations } from '../../src/policy/types.ts';
import { createCheck } from '../../src/pipeline/check.ts';
import type { DenyReason } from '../../src/core/reasons.ts';
import { UNIT_KEY, unitRuntime } from '../helpers/runtime.ts';

const deny = (reason: DenyReason): CheckResponse => denyResponse({ decisionId: 'd-1', reason, detail: undefined, api: undefined, metadata: {} });
const header = (res: CheckResponse, name: string): string | undefined => res.denied_response?.headers.find((h) => h.header.key === name)?.header.value;

describe('deny responses', () => {
  it.each([
    ['no_credentials', 401, 16],
    ['denied_by_policy', 403, 7],
    ['timeout', 503, 14],
    ['internal_error', 500, 13],
    ['malformed_body', 400, 3],
    ['body_too_large', 413, 3],
  ] as const)('%s: HTTP %i, gRPC code %i', (reason, http, grpc) => {
    const res = deny(reason);
    expect(res.denied_response?.status.code).toBe(http);
    expect(res.status).toEqual({ code: grpc, message: reason });
  });

  it('challenges a 401 with Bearer, adding error="invalid_token" when a credential was presented', () => {
    expect(header(deny('no_credentials'), 'www-authenticate')).toBe('Bearer realm="llm-authz"');
    expect(header(deny('expired_credentials'), 'www-authenticate')).toBe('Bearer realm="llm-authz", error="invalid_token"');
    expect(header(deny('denied_by_policy'), 'www-authenticate')).toBeUndefined();
  });
});

describe('allow responses', () => {
  it("removes every credential header, the caller's included, when the provider has no credential to attach", async () => {
    const rt = unitRuntime();
    const openai = rt.providers.byName.get('openai');
    if (!openai) throw new Error('no openai provider');
    (openai as { credential: unknown }).credential = undefined;
    const check = createCheck(() => rt, { onDecision: () => {}, onError: () => {} });
    const res = await check(
      checkRequest({ headers: { authorization: `Bearer ${UNIT_KEY}`, 'content-type': 'application/json' }, body: JSON.stringify({ model: 'gpt-4o-mini', messages: [] }) }),
    );
    expect(res.status.code).toBe(0);
    expect(res.ok_response?.headers_to_remove).toEqual(expect.arrayContaining(['authorization', 'x-api-key', 'api-key', 'x-goog-api-key']));
    expect(res.ok_response?.headers.map((h) => h.header.key)).toEqual(['x-llm-authz-route']);
    expect(JSON.stringify(res)).not.toContain(UNIT_KEY);
  });

  it('lists each header to remove once, and never one the allow sets (that one is overwritten)', () => {
    const res = allowResponse({
      decisionId: 'd-1',
      routingHeader: 'x-llm-authz-route',
      obligations: { provider: { route: 'openai' }, headers: [['x-team', 'a']] } as unknown as Obligations,
      credential: { set: [['api-key', 'k']], remove: ['authorization', 'x-api-key', 'x-team'] },
      credentialHeaders: ['cookie', 'x-api-key', 'api-key', 'x-llm-authz-route', 'cookie'],
      metadata: {},
    });
    expect(res.ok_response?.headers.map((h) => h.header.key)).toEqual(['x-llm-authz-route', 'api-key', 'x-team']);
    expect(res.ok_response?.headers_to_remove).toEqual(['authorization', 'x-api-key', 'cookie']);
  });
});
