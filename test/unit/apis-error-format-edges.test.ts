/**
 * The deny bodies of each wire API at every status a deny has (src/apis/openai.ts,
 * anthropic.ts, gemini.ts, bedrock.ts): the error type each SDK reads from them, and the
 * message every one carries. A mutation run of `npm run mutate` showed the OpenAI and Anthropic
 * type tables decided by no unit test beyond one status each.
 */
import { describe, expect, it } from 'vitest';
import { wireOf } from '../../src/apis/index.ts';
import { bedrockErrorType } from '../../src/apis/bedrock.ts';
import { denyMessage, type ErrorInput } from '../../src/apis/profile.ts';

const base = { reason: 'denied_by_policy', message: 'a policy denies this request', decisionId: 'dec-7' } as const;
const input = (status: number): ErrorInput => ({ ...base, status });

/** Every HTTP status a reason code denies with (src/core/reasons.ts), and one 5xx that none uses. */
const STATUSES = [400, 401, 403, 404, 405, 413, 415, 429, 500, 502, 503] as const;

describe('OpenAI error bodies (OpenAI, Azure OpenAI, OpenAI-compatible)', () => {
  const expected: Record<(typeof STATUSES)[number], string> = {
    400: 'invalid_request_error',
    401: 'authentication_error',
    403: 'permission_error',
    404: 'not_found_error',
    405: 'invalid_request_error',
    413: 'invalid_request_error',
    415: 'invalid_request_error',
    429: 'rate_limit_error',
    500: 'server_error',
    502: 'server_error',
    503: 'server_error',
  };
  it.each(STATUSES)('%i', (status) => {
    for (const api of ['openai', 'azure-openai'] as const) {
      expect(JSON.parse(wireOf(api).errorBody(input(status)))).toEqual({
        error: { message: 'llm-authz: a policy denies this request (reason: denied_by_policy, decision: dec-7)', type: expected[status], param: null, code: 'denied_by_policy' },
      });
    }
  });
});

describe('Anthropic error bodies', () => {
  const expected: Record<(typeof STATUSES)[number], string> = {
    400: 'invalid_request_error',
    401: 'authentication_error',
    403: 'permission_error',
    404: 'not_found_error',
    405: 'invalid_request_error',
    413: 'request_too_large',
    415: 'invalid_request_error',
    429: 'rate_limit_error',
    500: 'api_error',
    502: 'api_error',
    503: 'api_error',
  };
  it.each(STATUSES)('%i', (status) => {
    expect(JSON.parse(wireOf('anthropic').errorBody(input(status)))).toEqual({
      type: 'error',
      error: { type: expected[status], message: 'llm-authz: a policy denies this request (reason: denied_by_policy, decision: dec-7)' },
    });
  });
});

describe('Google API error bodies (Gemini, Vertex AI)', () => {
  it.each([
    [500, 'INTERNAL'],
    [502, 'INTERNAL'],
    [405, 'INVALID_ARGUMENT'],
  ])('%i: %s, with an ErrorInfo naming the reason and the decision', (status, name) => {
    for (const api of ['gemini', 'vertex-ai'] as const) {
      expect(JSON.parse(wireOf(api).errorBody(input(status)))).toEqual({
        error: {
          code: status,
          message: denyMessage(input(status)),
          status: name,
          details: [{ '@type': 'type.googleapis.com/google.rpc.ErrorInfo', reason: 'denied_by_policy', domain: 'llm-authz', metadata: { decision_id: 'dec-7' } }],
        },
      });
    }
  });
});

describe('Bedrock error bodies', () => {
  it.each([
    [400, 'ValidationException'],
    [401, 'AccessDeniedException'],
    [403, 'AccessDeniedException'],
    [404, 'ResourceNotFoundException'],
    [413, 'ValidationException'],
    [429, 'ThrottlingException'],
    [500, 'InternalServerException'],
    [502, 'InternalServerException'],
    [503, 'ServiceUnavailableException'],
  ])('%i: the type %s in x-amzn-errortype, the message in the body', (status, type) => {
    expect(bedrockErrorType(status)).toBe(type);
    const w = wireOf('bedrock');
    expect(w.errorHeaders?.(input(status))).toEqual([['x-amzn-errortype', type]]);
    expect(JSON.parse(w.errorBody(input(status)))).toEqual({ message: denyMessage(input(status)) });
  });
});
