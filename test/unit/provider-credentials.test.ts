import { mkdtempSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { inspect } from 'node:util';
import { afterEach, describe, expect, it } from 'vitest';
import { parseConfigText } from '../../src/config/load.ts';
import { Secret } from '../../src/core/secret.ts';
import { waitFor } from '../../devstack/ports.ts';
import { errorFormat, profileOf, type ApiKind } from '../../src/apis/index.ts';
import type { ErrorInput } from '../../src/apis/profile.ts';

/** The deny body a provider of this kind's clients get (OpenAI's for an unknown API). */
function errorBody(e: ErrorInput & { api: ApiKind | undefined }): string {
  return (e.api === undefined ? errorFormat(undefined) : profileOf(e.api).wire.errorBody)(e);
}
import { allowResponse, denyResponse, OVERWRITE_IF_EXISTS_OR_ADD } from '../../src/envoy/response.ts';
import type { CredentialReloadEvent } from '../../src/providers/credential-file.ts';
import { buildProviders, type ProviderCredential, type Providers } from '../../src/providers/runtime.ts';
import { attachCredential } from '../../src/providers/attach.ts';
import { CREDENTIAL_HEADERS, CREDENTIAL_QUERY_PARAMETERS } from '../../src/apis/index.ts';
import { ctxOf } from '../helpers/runtime.ts';

/** The key of a key credential (undefined for other kinds). */
function keyOf(c: ProviderCredential | undefined): Secret | undefined {
  return c instanceof Secret ? c : undefined;
}

const dirs: string[] = [];
const opened: Providers[] = [];
afterEach(() => {
  for (const p of opened.splice(0)) p.close();
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

function tmp(): string {
  const d = mkdtempSync(path.join(os.tmpdir(), 'llm-authz-cred-'));
  dirs.push(d);
  return d;
}

function providersFrom(yaml: string, baseDir: string, onReload?: (e: CredentialReloadEvent) => void): Providers {
  const cfg = parseConfigText(yaml, 'p.yaml');
  const p = buildProviders(cfg.providers, cfg.credentials, baseDir, 'p.yaml', onReload);
  opened.push(p);
  return p;
}

describe('provider credentials from files', () => {
  it('loads at start and reloads when the file is replaced (as a Secret mount does)', async () => {
    const dir = tmp();
    writeFileSync(path.join(dir, 'key'), 'sk-first\n');
    const events: CredentialReloadEvent[] = [];
    const p = providersFrom('providers:\n  - {name: openai, api: openai, credential: {file: key}}\n', dir, (e) => events.push(e));
    const cred = keyOf(p.byName.get('openai')?.credential);
    expect(cred?.reveal()).toBe('sk-first');
    writeFileSync(path.join(dir, 'key.new'), 'sk-second\n');
    renameSync(path.join(dir, 'key.new'), path.join(dir, 'key'));
    await waitFor('the reloaded credential', () => (cred?.reveal() === 'sk-second' ? true : undefined), 10_000);
    expect(events.some((e) => e.outcome === 'reloaded')).toBe(true);
    expect(JSON.stringify(events)).not.toContain('sk-');
  });

  it('keeps the last good value when the file becomes empty, and says so', async () => {
    const dir = tmp();
    writeFileSync(path.join(dir, 'key'), 'sk-good');
    const events: CredentialReloadEvent[] = [];
    const p = providersFrom('credentials:\n  main: {file: key}\nproviders:\n  - {name: claude, api: anthropic, credential: main}\n', dir, (e) => events.push(e));
    writeFileSync(path.join(dir, 'key'), '');
    await waitFor('the kept-last-good event', () => (events.some((e) => e.outcome === 'kept_last_good') ? true : undefined), 10_000);
    expect(keyOf(p.credentials.get('main'))?.reveal()).toBe('sk-good');
    expect(keyOf(p.byName.get('claude')?.credential)?.reveal()).toBe('sk-good');
  });

  it('refuses to start without the file, naming the file and not a value', () => {
    expect(() => providersFrom('providers:\n  - {name: openai, api: openai, credential: {file: missing}}\n', tmp())).toThrow(/cannot read credential file .*missing: ENOENT/);
  });

  it('prints a reloadable secret as [redacted]', () => {
    const h = Secret.reloadable('sk-hidden');
    h.set('sk-hidden-2');
    expect(h.secret.reveal()).toBe('sk-hidden-2');
    expect(`${String(h.secret)} ${JSON.stringify({ s: h.secret })} ${inspect(h.secret)}`).not.toContain('sk-');
  });
});

describe('credential attachment per provider kind', () => {
  const forms: [ApiKind, string, string][] = [
    ['openai', 'authorization', 'Bearer sk-p'],
    ['openai-compatible', 'authorization', 'Bearer sk-p'],
    ['azure-openai', 'api-key', 'sk-p'],
    ['anthropic', 'x-api-key', 'sk-p'],
    ['gemini', 'x-goog-api-key', 'sk-p'],
  ];
  const ctx = ctxOf({ path: '/v1/chat/completions', headers: { 'content-type': 'application/json' }, body: '{}' });
  async function allow(provider: Parameters<typeof attachCredential>[0]) {
    const attached = await attachCredential(provider, provider.credential, ctx);
    if (!attached.ok) throw new Error(`not attached: ${attached.reason}`);
    return allowResponse({ decisionId: 'd', routingHeader: 'x-llm-authz-route', obligations: { provider }, credential: attached.value, credentialHeaders: [], metadata: {} });
  }
  it.each(forms)('%s: sets %s with OVERWRITE, removes every other credential header and ?key=', async (api, header, value) => {
    const res = await allow({ name: 'p', api, profile: profileOf(api), route: 'r', credential: new Secret('sk-p'), serves: () => true });
    const set = res.ok_response?.headers ?? [];
    expect(set.map((h) => [h.header.key, h.header.value])).toEqual([
      ['x-llm-authz-route', 'r'],
      [header, value],
    ]);
    expect(set.every((h) => h.append_action === OVERWRITE_IF_EXISTS_OR_ADD)).toBe(true);
    expect(new Set([...(res.ok_response?.headers_to_remove ?? []), header])).toEqual(new Set(CREDENTIAL_HEADERS));
    expect(res.ok_response?.headers_to_remove).toEqual(
      expect.arrayContaining(['authorization', 'x-api-key', 'api-key', 'x-goog-api-key', 'x-amz-security-token'].filter((h) => h !== header)),
    );
    expect(res.ok_response?.headers_to_remove).not.toContain(header);
    expect(res.ok_response?.query_parameters_to_remove).toEqual(['key', 'access_token']);
    expect(CREDENTIAL_QUERY_PARAMETERS).toEqual(['key', 'access_token']);
  });

  it('a key attaches its current value in the form of the provider at hand, Check after Check, also after it is reloaded', async () => {
    const h = Secret.reloadable('sk-first');
    const openai = { name: 'o', api: 'openai' as const, profile: profileOf('openai'), route: 'o', credential: h.secret, serves: () => true };
    const anthropic = { name: 'a', api: 'anthropic' as const, profile: profileOf('anthropic'), route: 'a', credential: h.secret, serves: () => true };
    const sent = async (provider: typeof openai | typeof anthropic): Promise<string[][]> =>
      ((await allow(provider)).ok_response?.headers ?? []).slice(1).map((x) => [x.header.key, x.header.value]);
    expect(await sent(openai)).toEqual([['authorization', 'Bearer sk-first']]);
    expect(await sent(openai)).toEqual([['authorization', 'Bearer sk-first']]);
    expect(await sent(anthropic)).toEqual([['x-api-key', 'sk-first']]);
    expect(await sent(openai)).toEqual([['authorization', 'Bearer sk-first']]);
    h.set('sk-second');
    expect(await sent(openai)).toEqual([['authorization', 'Bearer sk-second']]);
    expect(await sent(anthropic)).toEqual([['x-api-key', 'sk-second']]);
    const removed = (await allow(openai)).ok_response?.headers_to_remove ?? [];
    expect(removed).toContain('x-api-key');
    expect(removed).not.toContain('authorization');
  });

  it('removes every credential header when the provider has no credential', async () => {
    const res = await allow({ name: 'p', api: 'openai-compatible' as const, profile: profileOf('openai-compatible'), route: 'r', credential: undefined, serves: () => true });
    expect(res.ok_response?.headers_to_remove).toEqual(CREDENTIAL_HEADERS);
    expect(CREDENTIAL_HEADERS).toEqual(
      expect.arrayContaining(['authorization', 'x-api-key', 'api-key', 'x-goog-api-key', 'x-amz-date', 'x-amz-content-sha256', 'x-amz-security-token']),
    );
  });
});

describe('native error bodies', () => {
  const base = { reason: 'model_not_allowed' as const, message: 'the model is not allowed', decisionId: 'dec-1' };
  it('OpenAI style for OpenAI, Azure OpenAI, OpenAI-compatible and unknown APIs', () => {
    for (const api of ['openai', 'azure-openai', 'openai-compatible', undefined] as const) {
      expect(JSON.parse(errorBody({ ...base, api, status: 403 }))).toEqual({
        error: { message: expect.stringContaining('reason: model_not_allowed'), type: 'permission_error', param: null, code: 'model_not_allowed' },
      });
    }
  });
  it('Anthropic style', () => {
    expect(JSON.parse(errorBody({ ...base, api: 'anthropic', status: 413 }))).toEqual({
      type: 'error',
      error: { type: 'request_too_large', message: expect.stringContaining('dec-1') },
    });
  });
  it.each([
    [400, 'INVALID_ARGUMENT'],
    [401, 'UNAUTHENTICATED'],
    [403, 'PERMISSION_DENIED'],
    [404, 'NOT_FOUND'],
    [413, 'INVALID_ARGUMENT'],
    [415, 'INVALID_ARGUMENT'],
    [429, 'RESOURCE_EXHAUSTED'],
    [503, 'UNAVAILABLE'],
  ])('Gemini (Google API) style for %i: %s', (status, name) => {
    const b = JSON.parse(errorBody({ ...base, api: 'gemini', status })) as { error: { code: number; status: string; message: string; details: { reason: string }[] } };
    expect(b.error).toMatchObject({ code: status, status: name });
    expect(b.error.message).toContain('model_not_allowed');
    expect(b.error.details[0]?.reason).toBe('model_not_allowed');
  });
  it('denies with the status of the reason (413, 415, 404, 400)', () => {
    for (const [reason, status] of [
      ['body_too_large', 413],
      ['unsupported_media_type', 415],
      ['unknown_api', 404],
      ['ambiguous_model', 400],
      ['ambiguous_field', 400],
    ] as const) {
      const res = denyResponse({ decisionId: 'd', reason, detail: undefined, api: 'gemini', metadata: {} });
      expect(res.denied_response?.status.code).toBe(status);
      expect(JSON.parse(res.denied_response?.body ?? '')).toMatchObject({ error: { code: status } });
    }
  });
});
