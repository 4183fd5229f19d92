/** Token payloads -> who is calling, by a configured claim mapping; claims reduced to an allowlist. */
import type { JsonValue } from '../core/struct.ts';
import type { DenyReason } from '../core/reasons.ts';
import type { ClaimMapping } from './schema.ts';
import { parseSpiffeId } from './spiffe-id.ts';
import type { Finding, IdentityMethodName } from './types.ts';

export type Payload = Readonly<Record<string, unknown>>;

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** A claim by dotted name; keys that themselves contain dots (`kubernetes.io`) are found too. */
export function claimAt(payload: Payload, dotted: string): unknown {
  if (Object.hasOwn(payload, dotted)) return payload[dotted];
  const parts = dotted.split('.');
  for (let n = parts.length - 1; n >= 1; n--) {
    const head = parts.slice(0, n).join('.');
    const v = Object.hasOwn(payload, head) ? payload[head] : undefined;
    if (isObject(v)) return claimAt(v, parts.slice(n).join('.'));
  }
  return undefined;
}

function stringClaim(payload: Payload, name: string | undefined): string | undefined {
  if (name === undefined) return undefined;
  const v = claimAt(payload, name);
  return typeof v === 'string' && v !== '' && v.length <= 512 ? v : undefined;
}

function toJson(v: unknown, depth = 0): JsonValue | undefined {
  if (v === null || typeof v === 'string' || typeof v === 'boolean') return v;
  if (typeof v === 'number') return Number.isFinite(v) ? v : undefined;
  if (depth > 8) return undefined;
  if (Array.isArray(v)) return v.slice(0, 64).map((x) => toJson(x, depth + 1) ?? null);
  if (isObject(v)) {
    const out: Record<string, JsonValue> = {};
    for (const [k, x] of Object.entries(v).slice(0, 64)) {
      const j = toJson(x, depth + 1);
      if (j !== undefined) out[k] = j;
    }
    return out;
  }
  return undefined;
}

/** Only the allowlisted claims, as plain JSON. */
export function reduceClaims(payload: Payload, allowlist: readonly string[]): Record<string, JsonValue> {
  const out: Record<string, JsonValue> = {};
  for (const name of allowlist) {
    const j = toJson(claimAt(payload, name));
    if (j !== undefined) out[name] = j;
  }
  return out;
}

export type FindingOutcome = { ok: true; finding: Finding } | { ok: false; reason: DenyReason; detail: string };

/**
 * Maps a verified payload to workload/agent/user. A token-exchange token (RFC 8693) with an
 * `act` claim names the user in `sub` and the agent acting for them in `act.sub`.
 */
export function findingFromPayload(method: IdentityMethodName, payload: Payload, issuer: string, mapping: ClaimMapping, allowlist: readonly string[]): FindingOutcome {
  const act = mapping.act_claim ? payload['act'] : undefined;
  let workload: string | undefined;
  let agent = stringClaim(payload, mapping.agent_claim);
  let user = stringClaim(payload, mapping.user_claim);
  if (isObject(act)) {
    const actor = typeof act['sub'] === 'string' && act['sub'] !== '' ? act['sub'] : undefined;
    if (actor === undefined) return { ok: false, reason: 'missing_claim', detail: "the 'act' claim names no actor (act.sub)" };
    const subject = stringClaim(payload, 'sub');
    if (subject === undefined) return { ok: false, reason: 'missing_claim', detail: "the token names no subject ('sub')" };
    user ??= subject;
    agent ??= actor;
    workload = mapping.workload_claim === 'sub' ? undefined : stringClaim(payload, mapping.workload_claim);
  } else {
    workload = stringClaim(payload, mapping.workload_claim);
    if (workload === undefined) return { ok: false, reason: 'missing_claim', detail: `the token has no '${mapping.workload_claim}' claim` };
  }
  const domains = mapping.spiffe_trust_domains;
  if (domains !== undefined) {
    const subject = workload ?? agent ?? '';
    const id = parseSpiffeId(subject);
    if (id === undefined) return { ok: false, reason: 'malformed_credentials', detail: 'the token subject is not a SPIFFE ID' };
    if (!domains.includes(id.trustDomain)) return { ok: false, reason: 'untrusted_domain', detail: `trust domain '${id.trustDomain}' is not trusted` };
  }
  const jti = stringClaim(payload, 'jti');
  return {
    ok: true,
    finding: {
      method,
      workload,
      agent,
      user,
      issuer,
      credentialId: jti,
      scopes: undefined,
      claims: reduceClaims(payload, allowlist),
      subject: stringClaim(payload, 'sub'),
    },
  };
}
