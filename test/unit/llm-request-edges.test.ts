/**
 * The LLM request phase at its edges (src/llm/index.ts, src/llm/provider-select.ts): the cases a
 * mutation run of `npm run mutate` showed no unit test deciding. A body on an endpoint that takes
 * none, media types and encodings as clients write them, the details each refusal gives, the
 * model of a path or query that llm-authz does not read, and the provider chosen for it.
 */
import { describe, expect, it } from 'vitest';
import { parseConfigText } from '../../src/config/load.ts';
import { buildProviders } from '../../src/providers/runtime.ts';
import { createUnderstander, isJsonContentType, understand } from '../../src/llm/index.ts';
import { ctxOf } from '../helpers/runtime.ts';

const json = { 'content-type': 'application/json' };
const chatBody = '{"model":"m","messages":[]}';

describe('a body on an endpoint that takes none', () => {
  const models = (o: { headers?: Record<string, string>; body?: string }) => understand(ctxOf({ method: 'GET', path: '/v1/models', ...o }));

  it('is refused when bytes came, when Envoy sent part of it, or when the request declares chunks', () => {
    expect(models({ body: '{}' })).toMatchObject({ ok: false, reason: 'unexpected_body' });
    expect(models({ headers: { 'x-envoy-auth-partial-body': 'true' } })).toMatchObject({ ok: false, reason: 'unexpected_body' });
    expect(models({ headers: { 'transfer-encoding': 'chunked' } })).toMatchObject({ ok: false, reason: 'unexpected_body' });
    expect(models({ headers: { 'content-length': '12' } })).toMatchObject({ ok: false, reason: 'unexpected_body' });
  });

  it('is not assumed: no body, or a declared length of 0, reads the listing', () => {
    expect(models({})).toMatchObject({ ok: true, value: { operation: 'models', bodyComplete: true } });
    expect(models({ headers: { 'content-length': '0' } })).toMatchObject({ ok: true, value: { operation: 'models' } });
  });
});

describe('media types and encodings', () => {
  it('takes JSON media types as clients write them: parameters, case, spacing, +json', () => {
    for (const ct of ['application/json', 'Application/JSON ; charset=utf-8', ' application/json', 'application/vnd.api+json', 'application/merge-patch+json; q=1']) {
      expect([ct, isJsonContentType(ct)]).toEqual([ct, true]);
      expect([ct, understand(ctxOf({ headers: { 'content-type': ct }, body: chatBody })).ok]).toEqual([ct, true]);
    }
  });

  it('refuses what is not JSON, and a request without a content type', () => {
    for (const ct of ['text/json', 'text/plain+json', 'application/jsonl', 'application/x-ndjson', '+json', 'multipart/form-data; boundary=+json', '']) {
      expect([ct, isJsonContentType(ct)]).toEqual([ct, false]);
    }
    expect(isJsonContentType(undefined)).toBe(false);
    expect(understand(ctxOf({ headers: {}, body: chatBody }))).toMatchObject({ ok: false, reason: 'unsupported_media_type' });
  });

  it('reads an identity encoding written with case or spaces; refuses a compressed one, saying why', () => {
    expect(understand(ctxOf({ headers: { ...json, 'content-encoding': ' Identity ' }, body: chatBody }))).toMatchObject({ ok: true });
    expect(understand(ctxOf({ headers: { ...json, 'content-encoding': 'br' }, body: chatBody }))).toEqual({
      ok: false,
      reason: 'unsupported_media_type',
      detail: 'a compressed request body cannot be read',
    });
  });
});

describe('what each refusal says', () => {
  it('a partial body that decides the request', () => {
    expect(understand(ctxOf({ headers: { ...json, 'x-envoy-auth-partial-body': 'true' }, body: '{"model":"m",' }))).toEqual({
      ok: false,
      reason: 'body_too_large',
      detail: 'only part of the body was received, and it decides this request',
    });
  });

  it('a body that is not UTF-8', () => {
    const body = Buffer.concat([Buffer.from('{"model":"m'), Buffer.from([0xff, 0xfe]), Buffer.from('","messages":[]}')]);
    expect(understand(ctxOf({ headers: json, body }))).toEqual({ ok: false, reason: 'malformed_body', detail: 'the body is not valid UTF-8' });
  });

  it('a path model a server could resolve to another path', () => {
    expect(understand(ctxOf({ path: '/openai/deployments/../chat/completions?api-version=1', headers: json, body: '{"messages":[]}' }))).toEqual({
      ok: false,
      reason: 'invalid_field',
      detail: 'the model (or another name) in the path is not a valid name',
    });
  });

  it('a path model too long for a model name', () => {
    const long = 'd'.repeat(300);
    expect(understand(ctxOf({ path: `/openai/deployments/${long}/chat/completions?api-version=1`, headers: json, body: '{"messages":[]}' }))).toEqual({
      ok: false,
      reason: 'invalid_field',
      detail: "'path model' must be a non-empty model name of at most 256 characters",
    });
  });

  it('an empty api-version', () => {
    expect(understand(ctxOf({ path: '/openai/deployments/d1/chat/completions?api-version=', headers: json, body: '{"messages":[]}' }))).toEqual({
      ok: false,
      reason: 'invalid_field',
      detail: "the 'api-version' query parameter is required once",
    });
  });

  it('a body model that differs from the path model; only Gemini has a resource prefix', () => {
    const azure = (model: string) =>
      understand(ctxOf({ path: '/openai/deployments/d1/chat/completions?api-version=1', headers: json, body: `{"model":"${model}","messages":[]}` }));
    expect(azure('d1')).toMatchObject({ ok: true, value: { model: 'd1' } });
    expect(azure('d2')).toEqual({ ok: false, reason: 'ambiguous_model', detail: 'the model in the body differs from the model in the path' });
    // Azure has no resource prefix: "undefined" + the path model is another model.
    expect(azure('undefinedd1')).toMatchObject({ ok: false, reason: 'ambiguous_model' });
    const gemini = (model: string) => understand(ctxOf({ path: '/v1beta/models/g1:generateContent', headers: json, body: `{"model":"${model}","contents":[]}` }));
    expect(gemini('models/g1')).toMatchObject({ ok: true, value: { model: 'g1' } });
    expect(gemini('models/g2')).toMatchObject({ ok: false, reason: 'ambiguous_model' });
  });

  it('a query model that differs from the model the provider reads', () => {
    expect(understand(ctxOf({ path: '/v1/chat/completions?model=other', headers: json, body: chatBody }))).toEqual({
      ok: false,
      reason: 'ambiguous_model',
      detail: "the 'model' query parameter differs from the model the provider reads",
    });
    expect(understand(ctxOf({ path: '/v1/chat/completions?model=m', headers: json, body: chatBody }))).toMatchObject({ ok: true, value: { model: 'm' } });
    // A query model where the request names none is not the model either.
    expect(understand(ctxOf({ path: '/v1/embeddings?model=e', headers: json, body: '{"input":"x"}' }))).toMatchObject({ ok: false, reason: 'ambiguous_model' });
  });
});

describe('a path llm-authz does not read', () => {
  const cfg = parseConfigText(
    `providers:
  - {name: local-llama, api: openai-compatible, models: ["llama-*"]}
  - {name: openai, api: openai}
`,
    't.yaml',
  );
  const u = createUnderstander(buildProviders(cfg.providers, cfg.credentials, '/', 't.yaml'));
  const files = (query: string) => u(ctxOf({ path: `/v1/files${query}`, headers: json, body: '{}' }));

  it('is read as an unknown operation with nothing claimed of its body', () => {
    expect(files('')).toEqual({
      ok: true,
      value: expect.objectContaining({ schema: 'unknown', operation: 'unknown', model: undefined, stream: false, bodyComplete: false, storedContext: [], pathParams: {} }),
    });
  });

  it('is routed by the one model its query names; by none when it names two or none', () => {
    expect(files('?model=gpt-4o')).toMatchObject({ ok: true, value: { provider: { name: 'openai' } } });
    expect(files('?model=llama-3')).toMatchObject({ ok: true, value: { provider: { name: 'local-llama' } } });
    // No model: the first provider of the API, as for any request without one.
    expect(files('')).toMatchObject({ ok: true, value: { provider: { name: 'local-llama' } } });
    expect(files('?model=gpt-4o&model=llama-3')).toMatchObject({ ok: true, value: { provider: { name: 'local-llama' } } });
  });
});
