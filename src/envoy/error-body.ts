/**
 * Deny bodies in the wire format of the API that was called, so official SDKs raise their
 * usual typed errors with a readable message that names the reason code.
 */
import type { ApiKind } from '../providers/schema.ts';
import type { ReasonCode } from '../core/reasons.ts';

function openAiType(status: number): string {
  if (status === 401) return 'authentication_error';
  if (status === 403) return 'permission_error';
  if (status === 404) return 'not_found_error';
  if (status === 429) return 'rate_limit_error';
  if (status >= 500) return 'server_error';
  return 'invalid_request_error';
}

function anthropicType(status: number): string {
  switch (status) {
    case 401:
      return 'authentication_error';
    case 403:
      return 'permission_error';
    case 404:
      return 'not_found_error';
    case 413:
      return 'request_too_large';
    case 429:
      return 'rate_limit_error';
    default:
      return status >= 500 ? 'api_error' : 'invalid_request_error';
  }
}

/** google.rpc.Code names, as Google APIs put them in `error.status`. */
function googleStatus(status: number): string {
  switch (status) {
    case 401:
      return 'UNAUTHENTICATED';
    case 403:
      return 'PERMISSION_DENIED';
    case 404:
      return 'NOT_FOUND';
    case 429:
      return 'RESOURCE_EXHAUSTED';
    case 503:
      return 'UNAVAILABLE';
    default:
      return status >= 500 ? 'INTERNAL' : 'INVALID_ARGUMENT';
  }
}

export interface ErrorBodyInput {
  readonly api: ApiKind | undefined;
  readonly status: number;
  readonly reason: ReasonCode;
  readonly message: string;
  readonly decisionId: string;
}

/**
 * OpenAI style (OpenAI, Azure OpenAI, OpenAI-compatible, and unknown APIs):
 *   {"error":{"message","type","param":null,"code":REASON}}
 * Anthropic style: {"type":"error","error":{"type","message"}}
 * Gemini (Google API) style: {"error":{"code":STATUS,"message","status":"PERMISSION_DENIED",...}}
 */
export function errorBody(e: ErrorBodyInput): string {
  const message = `llm-authz: ${e.message} (reason: ${e.reason}, decision: ${e.decisionId})`;
  if (e.api === 'anthropic') {
    return JSON.stringify({ type: 'error', error: { type: anthropicType(e.status), message } });
  }
  if (e.api === 'gemini') {
    return JSON.stringify({
      error: {
        code: e.status,
        message,
        status: googleStatus(e.status),
        details: [{ '@type': 'type.googleapis.com/google.rpc.ErrorInfo', reason: e.reason, domain: 'llm-authz', metadata: { decision_id: e.decisionId } }],
      },
    });
  }
  return JSON.stringify({ error: { message, type: openAiType(e.status), param: null, code: e.reason } });
}
