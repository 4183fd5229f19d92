/**
 * The endpoint table and the profiles' lookups at their edges (src/apis/endpoints.ts, index.ts
 * and each profile's fixture): the cases a mutation run of `npm run mutate` showed no unit test
 * deciding. The request path a policy test fixture stands for, the path parameters exactly (the
 * model is not one), `.` parts in a Bedrock model id, the API a shared path defaults to, and the
 * lookups of names that no profile has.
 */
import { describe, expect, it } from 'vitest';
import { profileOf, WIRES, wireOf, type ApiKind, type WireApi } from '../../src/apis/index.ts';
import { matchEndpoint } from '../../src/apis/endpoints.ts';
import { understand } from '../../src/llm/index.ts';
import { ctxOf } from '../helpers/runtime.ts';

const json = { 'content-type': 'application/json' };

describe("each wire API's policy test fixture", () => {
  it.each(WIRES.map((w) => [w.name, w] as const))('%s: its path is the fixture endpoint, with the model where the API reads it', (_name, w) => {
    const path = w.fixture.path('model-x', {});
    const m = matchEndpoint('POST', path, (x) => x === w);
    expect(m).toMatchObject({ kind: 'endpoint', endpoint: { api: w.name, schema: w.fixture.schema, operation: w.fixture.operation } });
    const inPath = m.kind === 'endpoint' && m.pathModel !== undefined;
    expect([path, inPath ? m.pathModel : 'body']).toEqual([path, ['openai', 'anthropic'].includes(w.name) ? 'body' : 'model-x']);
  });

  it('Bedrock percent-encodes a model id that holds a slash (an ARN)', () => {
    const arn = 'arn:aws:bedrock:us-east-1:123456789012:inference-profile/us.x';
    expect(wireOf('bedrock').fixture.path(arn, {})).toBe(`/model/${encodeURIComponent(arn)}/converse`);
  });

  it('Vertex AI takes the project and the location given, else project and global', () => {
    const v = wireOf('vertex-ai').fixture;
    expect(v.path('g', {})).toBe('/v1/projects/project/locations/global/publishers/google/models/g:generateContent');
    expect(v.path('g', { project: 'p1', location: 'europe-west4' })).toBe('/v1/projects/p1/locations/europe-west4/publishers/google/models/g:generateContent');
  });
});

describe('path parameters', () => {
  it('are the named groups besides the model, exactly', () => {
    const m = matchEndpoint('POST', '/v1/projects/acme/locations/us-east5/publishers/anthropic/models/claude-x:rawPredict');
    expect(m).toEqual(expect.objectContaining({ kind: 'endpoint', pathModel: 'claude-x', pathParams: { project: 'acme', location: 'us-east5' } }));
    const r = understand(ctxOf({ path: '/v1/projects/acme/locations/l1/publishers/google/models/gemini-x:countTokens', headers: json, body: '{}' }));
    expect(r.ok && r.value.pathParams).toEqual({ project: 'acme', location: 'l1' });
  });

  it('are none on an API without them', () => {
    expect(matchEndpoint('POST', '/v1beta/models/g:generateContent')).toEqual(expect.objectContaining({ pathModel: 'g', pathParams: {} }));
  });
});

describe('a Bedrock model id with a slash', () => {
  const converse = (encoded: string) => understand(ctxOf({ path: `/model/${encoded}/converse`, headers: json, body: '{"messages":[]}' }));
  it('refuses a `.` or `..` part anywhere, which a server could resolve to another path', () => {
    for (const bad of ['a%2F.%2Fb', '.%2Fa', 'a%2F.', 'a%2F..', '..%2Fa']) {
      expect(converse(bad), bad).toMatchObject({ ok: false, reason: 'invalid_field' });
    }
  });
  it('takes parts that only hold dots among other characters', () => {
    expect(converse('a%2F.b%2Fc..')).toMatchObject({ ok: true, value: { model: 'a/.b/c..' } });
  });
});

describe('a path several APIs share', () => {
  it('is the API without select headers unless the headers pick another', () => {
    expect(matchEndpoint('GET', '/v1/models')).toMatchObject({ kind: 'endpoint', endpoint: { api: 'openai' } });
    expect(matchEndpoint('GET', '/v1/models/x')).toMatchObject({ kind: 'endpoint', endpoint: { api: 'openai' }, pathModel: 'x' });
    expect(matchEndpoint('GET', '/v1/models', (w) => w.name === 'anthropic')).toMatchObject({ kind: 'endpoint', endpoint: { api: 'anthropic' } });
    expect(matchEndpoint('GET', '/v1/models/x', (w) => w.name === 'anthropic')).toMatchObject({ kind: 'endpoint', endpoint: { api: 'anthropic' } });
  });
});

describe('names no profile has', () => {
  it('are a programming error, thrown', () => {
    expect(() => wireOf('nope' as WireApi)).toThrow("unknown wire API 'nope'");
    expect(() => profileOf('nope' as ApiKind)).toThrow("unknown API kind 'nope'");
    expect(profileOf('openai-compatible').wire).toBe(wireOf('openai'));
  });
});
