/**
 * The API profiles (src/apis/) are the one home of each provider API's facts: these tests hold
 * what derives from them to the profiles, for every profile.
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { CLIENT_CREDENTIAL_HEADERS, CREDENTIAL_HEADERS, PROFILES, WIRES } from '../../src/apis/index.ts';
import { matchEndpoint } from '../../src/apis/endpoints.ts';
import { headersOf } from '../../src/apis/profile.ts';
import { presentedCredential } from '../../src/identity/credentials.ts';
import { compilePolicySet, PolicyLoadError, RESERVED_HEADERS } from '../../src/policy/policy-set.ts';
import { GENERATED_FILES, rendered } from '../../scripts/render-docs.ts';
import { ROOT } from '../../devstack/tools.ts';
import { unitProviders } from '../helpers/policies.ts';
import type { RequestContext } from '../../src/envoy/request-context.ts';

const providers = unitProviders();

function loadRuleSetting(header: string): readonly string[] {
  try {
    compilePolicySet('mem', [{ name: 'p.yaml', text: `rules:\n  - {id: r, effect: allow, when: "true", obligations: {headers: {${header}: "v"}}}\n` }], { providers });
    return [];
  } catch (err) {
    if (!(err instanceof PolicyLoadError)) throw err;
    return err.problems;
  }
}

describe('a policy rule cannot set a credential header of any API profile', () => {
  const headers = PROFILES.flatMap((p) => [
    ...p.wire.clientCredentialHeaders.map((h) => [p.name, 'client', h] as const),
    ...p.credentials.flatMap((f) => headersOf(f).map((h) => [p.name, `provider (${f.kind})`, h] as const)),
  ]);
  it('covers every profile (and x-goog-api-key, which a rule could once set)', () => {
    expect(new Set(headers.map(([p]) => p))).toEqual(new Set(PROFILES.map((p) => p.name)));
    expect(headers.map(([, , h]) => h)).toContain('x-goog-api-key');
    expect(headers.map(([, , h]) => h)).toEqual(expect.arrayContaining(['x-amz-date', 'x-amz-security-token', 'x-amz-content-sha256']));
  });
  it.each(headers)('%s: its %s credential header %s is refused at load', (_api, _side, header) => {
    expect(RESERVED_HEADERS).toContain(header);
    expect(loadRuleSetting(header)).toEqual([
      expect.stringMatching(new RegExp(`^mem/p\\.yaml:2:\\d+: rules\\[0\\]\\.obligations\\.headers: '${header}' is reserved and cannot be set by a rule$`)),
    ]);
  });
  it('an ordinary header loads (the check can tell them apart)', () => {
    expect(loadRuleSetting('x-team')).toEqual([]);
  });
});

describe('identity reads a client key in every header an SDK of any API sends one in', () => {
  const ctx = (headers: Record<string, string>): RequestContext => ({ headers: new Map(Object.entries(headers)) }) as unknown as RequestContext;
  it.each(CLIENT_CREDENTIAL_HEADERS.map((h) => [h]))('%s', (header) => {
    const value = header === 'authorization' ? 'Bearer lla_k1_secret' : 'lla_k1_secret';
    expect(presentedCredential(ctx({ [header]: value }))).toEqual({ kind: 'token', token: 'lla_k1_secret', header });
  });
  it('every client credential header is also removed on allow', () => {
    for (const h of CLIENT_CREDENTIAL_HEADERS) expect(CREDENTIAL_HEADERS).toContain(h);
  });
});

describe('the endpoint table', () => {
  it('matches every endpoint of every profile to its own API and schema', () => {
    for (const w of WIRES) {
      for (const e of w.endpoints) {
        const example =
          typeof e.path === 'string'
            ? e.path
            : (e.display ?? '')
                .replace(/\{([^,}]+),[^}]*\}/, '$1')
                .replace(/\{[a-z]+\}/g, 'm-1')
                .replace(/\?.*$/, '');
        const m = matchEndpoint(e.method, example, (x) => x.name === w.name);
        expect(m, `${w.name} ${e.method} ${example}`).toMatchObject({ kind: 'endpoint', endpoint: { api: w.name, schema: e.schema } });
      }
    }
  });
});

describe("the docs' API tables are generated from the profiles", () => {
  it.each(GENERATED_FILES.map((f) => [f]))('%s is current (node scripts/render-docs.ts)', (file) => {
    const text = readFileSync(path.join(ROOT, file), 'utf8');
    expect(rendered(file, text)).toBe(text);
  });
  it('a stale table is noticed', () => {
    const text = readFileSync(path.join(ROOT, 'README.md'), 'utf8');
    const stale = text.replace('| `gemini` | Gemini API', '| `gemini` | Gemini');
    expect(stale).not.toBe(text);
    expect(rendered('README.md', stale)).not.toBe(stale);
  });
});
