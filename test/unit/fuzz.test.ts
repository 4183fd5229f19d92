/**
 * The CheckRequest fuzzer (fuzz/): 5,000 structure-aware cases with a fixed seed through the
 * Check pipeline, every answer checked against the invariants. `npm run fuzz -- N SEED` runs more.
 */
import { describe, expect, it } from 'vitest';
import { allowResponse } from '../../src/envoy/response.ts';
import { CREDENTIAL_HEADERS } from '../../src/apis/index.ts';
import { generateCase } from '../../fuzz/cases.ts';
import { caseRng } from '../../fuzz/rng.ts';
import { runFuzz, violations } from '../../fuzz/run.ts';
import { NARROW } from '../../fuzz/world.ts';
import type { AuditRecord } from '../../src/audit/record.ts';
import { redactKeys } from '../../src/core/key-shape.ts';

describe('the CheckRequest fuzzer', () => {
  it('5,000 cases (seed 13): no invariant fails, and hostile bodies with a valid scoped key are read and decided', async () => {
    const s = await runFuzz(5000, 13);
    expect(s.violations).toEqual([]);
    // the cases reach every phase: many allows with a scoped key, denies of every kind
    expect(s.allowedWithScopedKey).toBeGreaterThan(300);
    // every provider API is reached, Bedrock signed and Vertex AI with minted tokens among them
    for (const p of ['openai', 'anthropic', 'gemini', 'azure-openai', 'bedrock', 'vertex-ai']) expect(s.allowedByProvider[p] ?? 0, p).toBeGreaterThan(5);
    expect(s.reasons['provider_unavailable'] ?? 0).toBe(0);
    for (const r of [
      'model_not_allowed',
      'tool_not_allowed',
      'max_tokens_exceeded',
      'provider_not_allowed',
      'malformed_body',
      'ambiguous_model',
      'conflicting_credentials',
      'malformed_credentials',
      'revoked_credentials',
      'unknown_api',
    ]) {
      expect(s.reasons[r] ?? 0, r).toBeGreaterThan(0);
    }
  }, 60_000);

  it('the invariants can fail: an allow outside the scope, a forwarded key, a missing record are caught', () => {
    const c = generateCase(caseRng(13, 0));
    const provider = { name: 'openai', api: 'openai', route: 'openai', credential: undefined, serves: () => true } as never;
    const res = allowResponse({
      decisionId: 'd1',
      routingHeader: 'x-llm-authz-route',
      obligations: { provider },
      credential: { set: [], remove: CREDENTIAL_HEADERS },
      credentialHeaders: [],
      metadata: {},
    });
    const record = {
      'decision.id': 'd1',
      'decision.effect': 'allow',
      'identity.credential_id': NARROW.id,
      'identity.method': 'api_key',
      'gen_ai.provider.name': 'openai',
      'llm.provider': 'openai',
      'gen_ai.request.model': 'gpt-4.1',
    } as unknown as AuditRecord;
    const problems = violations({ ...c, headers: { ...c.headers, 'x-other': NARROW.key } }, res, [record]);
    expect(problems).toContain("model 'gpt-4.1' outside the scope");
    expect(problems).toContain('max_tokens (unset) outside the scope');
    expect(problems).toContain("header 'x-other' holding a key is forwarded");
    expect(violations(c, res, [])).toEqual(['0 decision records']);
    // a client's own AWS header forwarded on a request to Bedrock (which llm-authz signs)
    const toBedrock = { ...record, 'gen_ai.provider.name': 'aws.bedrock', 'llm.provider': 'bedrock' } as unknown as AuditRecord;
    const bedrockAllow = allowResponse({
      decisionId: 'd1',
      routingHeader: 'x-llm-authz-route',
      obligations: { provider: { name: 'bedrock', api: 'bedrock', route: 'bedrock', credential: undefined, serves: () => true } as never },
      credential: { set: [], remove: CREDENTIAL_HEADERS },
      credentialHeaders: [],
      metadata: {},
    });
    expect(violations({ ...c, headers: { ...c.headers, 'x-amz-user-agent': 'client' } }, bedrockAllow, [toBedrock])).toContain(
      "the client's 'x-amz-user-agent' is forwarded to Bedrock",
    );
    expect(violations(c, bedrockAllow, [toBedrock])).not.toContain("the client's 'x-amz-user-agent' is forwarded to Bedrock");
  });
});

describe('redactKeys (every string of the audit record and every deny detail)', () => {
  it('keeps the public id and drops the secret of every key in a text', () => {
    expect(redactKeys(`/v1/models/${NARROW.key}/x`)).toBe('/v1/models/lla_fuzzA0001_…/x');
    expect(redactKeys('gpt-4o-mini')).toBe('gpt-4o-mini');
    expect(redactKeys('lla_short')).toBe('lla_short');
  });
});
