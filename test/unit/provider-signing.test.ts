/**
 * SigV4 signing of Bedrock requests by llm-authz, checked by the mock Bedrock's verifier, which
 * recomputes the signature with the same access key (devstack/mock-sigv4.ts): a right key
 * verifies, a wrong key, a changed body, path or host does not; a truncated body is not signed.
 */
import { mkdtempSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { inspect } from 'node:util';
import { afterEach, describe, expect, it } from 'vitest';
import { parseConfigText } from '../../src/config/load.ts';
import { ConfigError } from '../../src/core/errors.ts';
import { attachCredential, type AttachedCredential } from '../../src/providers/attach.ts';
import { buildProviders, type Providers } from '../../src/providers/runtime.ts';
import { denyResponse } from '../../src/envoy/response.ts';
import { sigv4Problem, type AwsTestKeys } from '../../devstack/mock-sigv4.ts';
import { waitFor } from '../../devstack/ports.ts';
import { ctxOf } from '../helpers/runtime.ts';

const KEYS: AwsTestKeys = { accessKeyId: 'AKIAUNITTEST00000001', secretAccessKey: 'unit-secret-access-key-0000000000000000000' };
const HOST = 'bedrock-runtime.us-east-1.amazonaws.com';
const ARN = 'arn:aws:bedrock:us-east-1:123456789012:inference-profile/us.anthropic.claude-3-5-haiku-20241022-v1:0';
const BODY = JSON.stringify({ messages: [{ role: 'user', content: [{ text: 'hi' }] }], inferenceConfig: { maxTokens: 20 } });

const dirs: string[] = [];
const opened: Providers[] = [];
afterEach(() => {
  for (const p of opened.splice(0)) p.close();
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

function setup(extra = '', keys: AwsTestKeys = KEYS): { providers: Providers; dir: string } {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'llm-authz-sigv4-'));
  dirs.push(dir);
  writeFileSync(path.join(dir, 'id'), `${keys.accessKeyId}\n`);
  writeFileSync(path.join(dir, 'secret'), `${keys.secretAccessKey}\n`);
  if (keys.sessionToken !== undefined) writeFileSync(path.join(dir, 'token'), keys.sessionToken);
  const token = keys.sessionToken !== undefined ? ', session_token: {file: token}' : '';
  const cfg = parseConfigText(
    `providers:\n  - {name: bedrock, api: bedrock, region: us-east-1${extra}, credential: {aws: {access_key_id: {file: id}, secret_access_key: {file: secret}${token}}}}\n`,
    'p.yaml',
  );
  const providers = buildProviders(cfg.providers, cfg.credentials, dir, 'p.yaml');
  opened.push(providers);
  return { providers, dir };
}

function request(p: string, body: string, headers: Record<string, string> = {}) {
  return ctxOf({ path: p, headers: { 'content-type': 'application/json', ...headers }, body });
}

async function signedFor(providers: Providers, p: string, body = BODY, headers: Record<string, string> = {}): Promise<AttachedCredential> {
  const provider = providers.byName.get('bedrock')!;
  const r = await attachCredential(provider, provider.credential, request(p, body, headers));
  if (!r.ok) throw new Error(`not signed: ${r.reason} ${r.detail ?? ''}`);
  return r.value;
}

/** The request as the upstream receives it: the path and body as sent, Host from Envoy's route, the signed headers. */
function upstream(p: string, attached: AttachedCredential, body = BODY, host = HOST) {
  return { method: 'POST', url: p, headers: { host, 'content-type': 'application/json', ...Object.fromEntries(attached.set) }, body: Buffer.from(body) };
}

describe('SigV4 signing with an AWS access key (Bedrock)', () => {
  const converse = `/model/${encodeURIComponent(ARN)}/converse`;

  it('signs method, path (a percent-encoded ARN), host and body so that the same key verifies it', async () => {
    const { providers } = setup();
    const attached = await signedFor(providers, converse);
    expect(attached.set.map(([k]) => k).sort()).toEqual(['authorization', 'x-amz-content-sha256', 'x-amz-date']);
    expect(attached.set.find(([k]) => k === 'authorization')?.[1]).toMatch(
      /^AWS4-HMAC-SHA256 Credential=AKIAUNITTEST00000001\/\d{8}\/us-east-1\/bedrock\/aws4_request, SignedHeaders=host;x-amz-content-sha256;x-amz-date, Signature=[0-9a-f]{64}$/,
    );
    expect(attached.remove).toContain('x-amz-security-token');
    expect(attached.remove).not.toContain('authorization');
    expect(await sigv4Problem(upstream(converse, attached), KEYS, 'us-east-1', 'bedrock')).toBeUndefined();
  });

  it('the check can fail: a wrong key, a changed body, path or host, another region do not verify', async () => {
    const { providers } = setup();
    const attached = await signedFor(providers, converse);
    expect(await sigv4Problem(upstream(converse, attached), { ...KEYS, secretAccessKey: `${KEYS.secretAccessKey.slice(0, -1)}1` }, 'us-east-1', 'bedrock')).toMatch(
      /signature we calculated does not match/,
    );
    expect(await sigv4Problem(upstream(converse, attached, BODY.replace('20', '99')), KEYS, 'us-east-1', 'bedrock')).toMatch(/x-amz-content-sha256/);
    expect(await sigv4Problem(upstream(converse.replace('converse', 'converse-stream'), attached), KEYS, 'us-east-1', 'bedrock')).toMatch(/does not match/);
    expect(await sigv4Problem(upstream(converse, attached, BODY, 'evil.example'), KEYS, 'us-east-1', 'bedrock')).toMatch(/does not match/);
    expect(await sigv4Problem(upstream(converse, attached), KEYS, 'us-west-2', 'bedrock')).toMatch(/credential scope/);
  });

  it('signs over the configured host (providers[].host)', async () => {
    const { providers } = setup(', host: 127.0.0.1');
    const attached = await signedFor(providers, converse);
    expect(await sigv4Problem(upstream(converse, attached, BODY, '127.0.0.1'), KEYS, 'us-east-1', 'bedrock')).toBeUndefined();
    expect(await sigv4Problem(upstream(converse, attached, BODY, HOST), KEYS, 'us-east-1', 'bedrock')).toMatch(/does not match/);
  });

  it('signs the query the upstream receives: without the credential parameters Envoy removes', async () => {
    const { providers } = setup();
    const attached = await signedFor(providers, `${converse}?trace=1&key=client-key&access_token=client-token`);
    expect(await sigv4Problem(upstream(`${converse}?trace=1`, attached), KEYS, 'us-east-1', 'bedrock')).toBeUndefined();
    expect(await sigv4Problem(upstream(`${converse}?trace=1&key=client-key`, attached), KEYS, 'us-east-1', 'bedrock')).toMatch(/does not match/);
  });

  it('sends the session token of temporary credentials, signed', async () => {
    const keys = { ...KEYS, sessionToken: 'unit-session-token-FwoGZXIvYXdzEJr' };
    const { providers } = setup('', keys);
    const attached = await signedFor(providers, converse);
    expect(Object.fromEntries(attached.set)['x-amz-security-token']).toBe(keys.sessionToken);
    expect(attached.remove).not.toContain('x-amz-security-token');
    expect(await sigv4Problem(upstream(converse, attached), keys, 'us-east-1', 'bedrock')).toBeUndefined();
    expect(await sigv4Problem(upstream(converse, attached), { ...keys, sessionToken: 'another' }, 'us-east-1', 'bedrock')).toMatch(/security token/);
  });

  it("removes the client's own x-amz-* headers and SigV4 headers: only llm-authz's signed ones are set", async () => {
    const { providers } = setup();
    const client = {
      'x-amz-date': '20200101T000000Z',
      'x-amz-security-token': 'client-session-token',
      'x-amz-content-sha256': 'UNSIGNED-PAYLOAD',
      'x-amz-user-agent': 'aws-sdk-js/3',
      'x-amz-target': 'Client.Op',
      'amz-sdk-invocation-id': 'inv-1',
    };
    const attached = await signedFor(providers, converse, BODY, client);
    const set = attached.set.map(([k]) => k);
    expect(set).toEqual(expect.arrayContaining(['authorization', 'x-amz-date', 'x-amz-content-sha256']));
    for (const h of ['x-amz-user-agent', 'x-amz-target', 'x-amz-security-token']) expect(attached.remove).toContain(h);
    for (const h of set) expect(attached.remove).not.toContain(h);
    // Not an AWS credential header: the SDK's own invocation id stays.
    expect(attached.remove).not.toContain('amz-sdk-invocation-id');
    // Without client x-amz-* headers, only the credential headers are removed.
    const plain = await signedFor(providers, converse);
    expect(plain.remove).not.toContain('x-amz-user-agent');
  });

  it('cannot sign a body that reached llm-authz truncated: 413 body_too_large', async () => {
    const { providers } = setup();
    const provider = providers.byName.get('bedrock')!;
    const partial = await attachCredential(provider, provider.credential, request(converse, BODY, { 'x-envoy-auth-partial-body': 'true' }));
    expect(partial).toMatchObject({ ok: false, reason: 'body_too_large' });
    const shortByLength = await attachCredential(provider, provider.credential, request(converse, BODY, { 'content-length': String(BODY.length + 10) }));
    expect(shortByLength).toMatchObject({ ok: false, reason: 'body_too_large' });
  });

  it('signs with a rotated key file from the next request on', async () => {
    const { providers, dir } = setup();
    const rotated = { ...KEYS, secretAccessKey: 'rotated-secret-access-key-00000000000000000' };
    writeFileSync(path.join(dir, 'secret.new'), rotated.secretAccessKey);
    renameSync(path.join(dir, 'secret.new'), path.join(dir, 'secret'));
    const attached = await waitFor(
      'a signature with the rotated key',
      async () => {
        const a = await signedFor(providers, converse);
        return (await sigv4Problem(upstream(converse, a), rotated, 'us-east-1', 'bedrock')) === undefined ? a : undefined;
      },
      10_000,
    );
    expect(await sigv4Problem(upstream(converse, attached), KEYS, 'us-east-1', 'bedrock')).toMatch(/does not match/);
  });

  it('never shows the keys: the provider, its credential and the signed headers print no secret', async () => {
    const { providers } = setup();
    const provider = providers.byName.get('bedrock')!;
    for (const text of [JSON.stringify(provider), inspect(provider, { depth: 5 }), String(provider.credential), JSON.stringify(providers.list)]) {
      expect(text).not.toContain(KEYS.secretAccessKey);
      expect(text).not.toContain(KEYS.accessKeyId);
    }
    const attached = await signedFor(providers, converse);
    expect(JSON.stringify(attached)).not.toContain(KEYS.secretAccessKey);
  });
});

describe('which credentials an API takes (checked at load)', () => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'llm-authz-kinds-'));
  writeFileSync(path.join(dir, 'k'), 'value');
  writeFileSync(path.join(dir, 'sa.json'), 'not json');
  const load = (yaml: string): string[] => {
    try {
      const cfg = parseConfigText(yaml, 'p.yaml');
      opened.push(buildProviders(cfg.providers, cfg.credentials, dir, 'p.yaml'));
      return [];
    } catch (err) {
      if (err instanceof ConfigError) return [...err.problems, err.message];
      throw err;
    }
  };
  const aws = '{aws: {access_key_id: {file: k}, secret_access_key: {file: k}}}';
  it.each([
    ['bedrock with an AWS key and a region', `providers:\n  - {name: b, api: bedrock, region: eu-west-1, credential: ${aws}}\n`, null],
    ['bedrock with a Bedrock API key (bearer), no region', 'providers:\n  - {name: b, api: bedrock, credential: {file: k}}\n', null],
    ['bedrock with an AWS key but no region', `providers:\n  - {name: b, api: bedrock, credential: ${aws}}\n`, /region is required/],
    ['openai with an AWS key', `providers:\n  - {name: o, api: openai, credential: ${aws}}\n`, /the openai API takes a credential of kind key, not aws/],
    ['vertex-ai with a key', 'providers:\n  - {name: v, api: vertex-ai, credential: {file: k}}\n', /the vertex-ai API takes a credential of kind service_account, not key/],
    ['a region on an API that does not sign', 'providers:\n  - {name: o, api: openai, region: us-east-1, credential: {file: k}}\n', /region and host apply to an API that signs/],
    [
      'a service-account key that is not JSON',
      'providers:\n  - {name: v, api: vertex-ai, credential: {service_account: {file: sa.json}}}\n',
      /service_account:[\s\S]*the service-account key is not JSON/,
    ],
    [
      'an unknown credential form',
      'providers:\n  - {name: o, api: openai, credential: {vault: x}}\n',
      /credential: unknown key 'vault'[\s\S]*set exactly one of file, env, aws or service_account/,
    ],
    [
      'an AWS key without its secret',
      'providers:\n  - {name: b, api: bedrock, region: us-east-1, credential: {aws: {access_key_id: {file: k}}}}\n',
      /credential: aws\.secret_access_key: missing: expected a mapping/,
    ],
    [
      'a misspelt AWS key part',
      'providers:\n  - {name: b, api: bedrock, region: us-east-1, credential: {aws: {acess_key_id: {file: k}, secret_access_key: {file: k}}}}\n',
      /unknown key 'acess_key_id' \(did you mean 'access_key_id'\?\)/,
    ],
    [
      'a token_url without a service account',
      'providers:\n  - {name: o, api: openai, credential: {file: k, token_url: "https://t.example/token"}}\n',
      /credential\.token_url: token_url goes with service_account/,
    ],
    ['a credential that is neither a name nor a mapping', 'providers:\n  - {name: o, api: openai, credential: 5}\n', /credential: expected a string or a mapping, got 5/],
  ] as const)('%s', (_name, yaml, problem) => {
    const problems = load(yaml);
    if (problem === null) expect(problems).toEqual([]);
    else expect(problems.join('\n')).toMatch(problem);
    expect(problems.join('\n')).not.toContain('value');
  });
});

describe('Bedrock deny bodies', () => {
  it.each([
    ['model_not_allowed', 403, 'AccessDeniedException'],
    ['invalid_credentials', 401, 'AccessDeniedException'],
    ['ambiguous_model', 400, 'ValidationException'],
    ['body_too_large', 413, 'ValidationException'],
    ['unknown_api', 404, 'ResourceNotFoundException'],
    ['provider_unavailable', 503, 'ServiceUnavailableException'],
    ['internal_error', 500, 'InternalServerException'],
  ] as const)('%s: HTTP %i, x-amzn-errortype %s, {"message"} naming the reason', (reason, status, type) => {
    const res = denyResponse({ decisionId: 'd-9', reason, detail: undefined, api: 'bedrock', metadata: {} });
    expect(res.denied_response?.status.code).toBe(status);
    const headers = Object.fromEntries((res.denied_response?.headers ?? []).map((h) => [h.header.key, h.header.value]));
    expect(headers['x-amzn-errortype']).toBe(type);
    expect(JSON.parse(res.denied_response?.body ?? '')).toEqual({ message: expect.stringContaining(`reason: ${reason}`) });
  });
  it('other APIs carry no x-amzn-errortype', () => {
    const res = denyResponse({ decisionId: 'd', reason: 'model_not_allowed', detail: undefined, api: 'openai', metadata: {} });
    expect(res.denied_response?.headers.map((h) => h.header.key)).not.toContain('x-amzn-errortype');
  });
});

describe('Bedrock with a Bedrock API key', () => {
  it('sends it as a bearer token and removes the SigV4 headers a client sent', async () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'llm-authz-bedrock-key-'));
    dirs.push(dir);
    writeFileSync(path.join(dir, 'key'), 'bedrock-api-key-unit-0001');
    const cfg = parseConfigText('providers:\n  - {name: bedrock, api: bedrock, credential: {file: key}}\n', 'p.yaml');
    const providers = buildProviders(cfg.providers, cfg.credentials, dir, 'p.yaml');
    opened.push(providers);
    const provider = providers.byName.get('bedrock')!;
    const r = await attachCredential(provider, provider.credential, request(`/model/${encodeURIComponent(ARN)}/converse`, BODY));
    expect(r).toMatchObject({ ok: true, value: { set: [['authorization', 'Bearer bedrock-api-key-unit-0001']] } });
    expect(r.ok && r.value.remove).toEqual(expect.arrayContaining(['x-amz-date', 'x-amz-content-sha256', 'x-amz-security-token', 'x-api-key']));
  });
});
