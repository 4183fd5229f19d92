/** What an allow removes (src/envoy/strip.ts) and what a URL may not carry (src/identity/url-credential.ts). */
import { describe, expect, it } from 'vitest';
import { checkRequest } from '../../devstack/grpc-client.ts';
import { createCheck } from '../../src/pipeline/check.ts';
import { canonicalParameterName, urlCredential } from '../../src/identity/url-credential.ts';
import { parseConfigText } from '../../src/config/load.ts';
import { ConfigError } from '../../src/core/errors.ts';
import { ctxOf, OPENAI_SECRET, UNIT_KEY, UNIT_KEY_2, unitRuntime } from '../helpers/runtime.ts';

const body = JSON.stringify({ model: 'gpt-4o-mini', messages: [] });

async function removed(headers: Record<string, string>, extra = ''): Promise<string[]> {
  const rt = unitRuntime(extra);
  const check = createCheck(() => rt, { onDecision: () => undefined, onError: () => undefined });
  const res = await check(checkRequest({ headers: { authorization: `Bearer ${UNIT_KEY}`, 'content-type': 'application/json', ...headers }, body }));
  expect(res.status.code).toBe(0);
  return res.ok_response?.headers_to_remove ?? [];
}

describe('headers an allow removes', () => {
  it.each([
    ['proxy-authorization', { 'proxy-authorization': 'Basic Zm9vOmJhcg==' }],
    ['cookie', { cookie: 'a=b' }],
    ['an underscore spelling of a credential header', { x_api_key: 'anything' }],
    ['an underscore spelling of authorization', { Proxy_Authorization: 'x' }],
    ['the default on-behalf-of header', { 'x-llm-authz-on-behalf-of': 'eyJ.x.y' }],
    ['a forged decision id', { 'x-llm-authz-decision-id': 'forged' }],
    ['any x-llm-authz-* header', { 'x-llm-authz-whatever': '1' }],
    ['a method override', { 'x-http-method-override': 'POST' }],
    ['a header holding the presented key', { 'x-pass-through': `k=${UNIT_KEY}` }],
    ['a header holding another llm-authz key', { 'x-other': UNIT_KEY_2 }],
  ])('%s', async (_what, headers) => {
    const name = Object.keys(headers)[0]!.toLowerCase();
    expect(await removed(headers)).toContain(name);
  });

  it('keeps ordinary headers, the routing header and the credential it sets', async () => {
    const r = await removed({ 'x-app-trace': 'keep', 'user-agent': 'sdk/1.0', 'x-llm-authz-route': 'anthropic', 'x-key-id': 'short' });
    expect(r).not.toContain('x-app-trace');
    expect(r).not.toContain('user-agent');
    expect(r).not.toContain('x-llm-authz-route');
    expect(r).not.toContain('x-key-id');
    expect(r).not.toContain('authorization');
    expect(r).not.toContain('host');
  });

  it('routing.remove_headers replaces the configured list; the fixed rules stay', async () => {
    const r = await removed({ 'x-tenant-secret': 's', cookie: 'a=b' }, 'routing:\n  remove_headers: [x-tenant-secret]\n');
    expect(r).toContain('x-tenant-secret');
    expect(r).not.toContain('cookie');
    expect(r).toContain('x-llm-authz-on-behalf-of');
  });

  it('the routing header is never removed, and cannot be configured to be', () => {
    const rt = unitRuntime();
    expect(rt.strip.always).not.toContain(rt.routingHeader);
    expect(() => parseConfigText('routing:\n  remove_headers: [x-llm-authz-route]\n', 'bad.yaml')).toThrow(ConfigError);
  });

  it('never removes the provider credential it sets', async () => {
    const r = await removed({ 'x-forward': `Bearer ${OPENAI_SECRET}` });
    expect(r).not.toContain('authorization');
  });
});

describe('a credential in the URL', () => {
  const ctx = (path: string, headers: Record<string, string> = { authorization: `Bearer ${UNIT_KEY}` }) => ctxOf({ path, headers });

  it.each([
    'key',
    'KEY',
    'Key',
    'k%65y',
    '%6Bey',
    '%256Bey',
    'key%5B%5D',
    'key[]',
    'key[0]',
    'api_key',
    'API-KEY',
    'apikey',
    'access_token',
    'x-goog-api-key',
    '+key',
    'key%00',
    '\u212Aey',
  ])('the parameter %s is refused', (name) => {
    expect(urlCredential(ctx(`/v1/chat/completions?a=1&${name}=v`))).toMatch(/credential in the URL query/);
  });

  it.each([
    ['after a ;', `/v1/chat/completions?a=1;key=v`],
    ['a value holding the presented key', `/v1/chat/completions?state=${UNIT_KEY}`],
    ['a value holding another llm-authz key, encoded', `/v1/chat/completions?s=${encodeURIComponent(UNIT_KEY_2)}`],
    ['a key in the path', `/v1/models/${UNIT_KEY_2}`],
  ])('%s is refused', (_what, path) => {
    expect(urlCredential(ctx(path))).toBeDefined();
  });

  it.each(['api-version=2024-10-21', 'alt=sse', 'model=gpt-4o', 'keys=1', 'monkey=1', 'pageToken=abc', ''])('an ordinary query (%s) passes', (q) => {
    expect(urlCredential(ctx(`/v1/chat/completions${q === '' ? '' : `?${q}`}`))).toBeUndefined();
  });

  it('a name encoded more times than a server would decode is refused', () => {
    expect(canonicalParameterName('%25252525256Bey')).toBeUndefined();
    expect(urlCredential(ctx('/v1/chat/completions?%25252525256Bey=1'))).toMatch(/encoded too many times/);
  });

  it('the refusal is a 401 malformed_credentials naming the parameter, never its value', async () => {
    const rt = unitRuntime();
    const check = createCheck(() => rt, { onDecision: () => undefined, onError: () => undefined });
    const res = await check(
      checkRequest({ path: `/v1/chat/completions?KEY=${UNIT_KEY}`, headers: { authorization: `Bearer ${UNIT_KEY}`, 'content-type': 'application/json' }, body }),
    );
    expect(res.denied_response?.status.code).toBe(401);
    expect(res.denied_response?.body).toContain("'key'");
    expect(res.denied_response?.body).not.toContain(UNIT_KEY);
  });
});
