/** Headers llm-authz itself sets towards the client (on every deny, and the decision id on allow). */
export const DECISION_ID_HEADER = 'x-llm-authz-decision-id';
export const REASON_HEADER = 'x-llm-authz-reason';
