/**
 * The closed set of reason codes. Only these reach clients, metrics labels and audit records;
 * the causes behind them stay in internal logs (without secrets).
 */
export const REASONS = {
  allowed: { status: 200, message: 'allowed' },
  // 400: the CheckRequest or the HTTP request could not be understood
  malformed_check_request: { status: 400, message: 'the authorization request is incomplete' },
  malformed_body: { status: 400, message: 'the request body is not valid JSON' },
  empty_body: { status: 400, message: 'the request body is empty' },
  invalid_field: { status: 400, message: 'a request field has the wrong type or value' },
  missing_model: { status: 400, message: 'the request names no model' },
  ambiguous_model: { status: 400, message: 'the request names more than one model' },
  ambiguous_field: { status: 400, message: 'a request field has more than one value' },
  unexpected_body: { status: 400, message: 'this endpoint takes no request body' },
  // 401: who is calling could not be established
  no_credentials: { status: 401, message: 'no credentials were presented' },
  malformed_credentials: { status: 401, message: 'the credentials are malformed' },
  unknown_credentials: { status: 401, message: 'the credentials are not known' },
  invalid_credentials: { status: 401, message: 'the credentials are not valid' },
  expired_credentials: { status: 401, message: 'the credentials have expired' },
  revoked_credentials: { status: 401, message: 'the credentials have been revoked' },
  conflicting_credentials: { status: 401, message: 'more than one credential was presented' },
  untrusted_domain: { status: 401, message: 'the SPIFFE ID is not in a trusted domain' },
  bad_signature: { status: 401, message: 'the token signature does not verify' },
  unknown_issuer: { status: 401, message: 'the token issuer is not trusted' },
  unknown_key: { status: 401, message: 'the token is signed with a key the issuer does not publish' },
  wrong_audience: { status: 401, message: 'the token is not meant for this audience' },
  not_yet_valid: { status: 401, message: 'the credentials are not valid yet' },
  token_too_large: { status: 401, message: 'the token is larger than accepted' },
  unsupported_algorithm: { status: 401, message: 'the token algorithm is not allowed' },
  missing_claim: { status: 401, message: 'the token lacks a required claim' },
  // 403: known caller, not allowed
  denied_by_default: { status: 403, message: 'no policy allows this request' },
  denied_by_policy: { status: 403, message: 'a policy denies this request' },
  model_not_allowed: { status: 403, message: 'the model is not allowed for this caller' },
  provider_not_allowed: { status: 403, message: 'the provider is not allowed for this caller' },
  tool_not_allowed: { status: 403, message: 'a tool offered to the model is not allowed for this caller' },
  max_tokens_exceeded: { status: 403, message: 'the requested max_tokens is above the limit for this caller, or unset' },
  revoked_identity: { status: 403, message: 'this identity has been revoked' },
  // 404/405: not an API llm-authz knows
  unknown_api: { status: 404, message: 'this path is not a known model API' },
  method_not_allowed: { status: 405, message: 'this method is not allowed on this API' },
  // 413/415
  body_too_large: { status: 413, message: 'the request body is larger than the authorizer reads' },
  unsupported_media_type: { status: 415, message: 'the request body must be application/json' },
  // 429: a quota (config `quotas`) is used up for this caller
  quota_exceeded: { status: 429, message: 'a quota for this caller is used up' },
  // 5xx: fail closed
  provider_unavailable: { status: 503, message: 'no route to a provider for this request' },
  timeout: { status: 503, message: 'the authorization decision timed out' },
  internal_error: { status: 500, message: 'the authorizer failed; the request is denied' },
  policy_error: { status: 500, message: 'a policy failed to evaluate; the request is denied' },
  quota_unavailable: { status: 503, message: 'the quota store could not be reached; the request is denied' },
} as const satisfies Record<string, { status: number; message: string }>;

export type ReasonCode = keyof typeof REASONS;
export type DenyReason = Exclude<ReasonCode, 'allowed'>;

export function statusOf(reason: ReasonCode): number {
  return REASONS[reason].status;
}

export function isReasonCode(value: string): value is ReasonCode {
  return Object.hasOwn(REASONS, value);
}

/** The result of a phase: a value, or a reason to deny with an optional safe detail (no secrets). */
export type Outcome<T> = { ok: true; value: T } | { ok: false; reason: DenyReason; detail?: string };

/** The outcomes of the most common values, made once (an outcome is never changed). */
const OK_UNDEFINED = Object.freeze({ ok: true, value: undefined } as const);
const OK_TRUE = Object.freeze({ ok: true, value: true } as const);
const OK_FALSE = Object.freeze({ ok: true, value: false } as const);

export function ok<T>(value: T): Outcome<T> {
  if (value === undefined) return OK_UNDEFINED as Outcome<T>;
  if (value === true) return OK_TRUE as Outcome<T>;
  if (value === false) return OK_FALSE as Outcome<T>;
  return { ok: true, value };
}

export function fail<T = never>(reason: DenyReason, detail?: string): Outcome<T> {
  return detail === undefined ? { ok: false, reason } : { ok: false, reason, detail };
}
