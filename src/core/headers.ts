/** Headers llm-authz itself sets towards the client (on every deny, and the decision id on allow). */
export const DECISION_ID_HEADER = 'x-llm-authz-decision-id';
export const REASON_HEADER = 'x-llm-authz-reason';
/** The trace id of the decision (when tracing is on), to find the request's trace in Jaeger. */
export const TRACE_ID_HEADER = 'x-llm-authz-trace-id';
