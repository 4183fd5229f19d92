/**
 * Fault: the state llm-authz reloads goes bad under a steady load through the real Envoy: a
 * policy file truncated mid-write, the policy folder deleted, the API key store replaced by
 * garbage, a provider-key file emptied. Each time the last good state keeps deciding (every
 * decision record and every answer llm-authz gave equals the good state's answer for that
 * request; a 503 at a deadline under load is fail-closed, never another answer), the state's health service turns
 * NOT_SERVING and `llm_authz_state_stale` says 1, and both recover by themselves once the
 * source is good again.
 */
import { cpSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { PassThrough } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { keys } from '../../src/cli/keys.ts';
import { createAuthzClient, type AuthzClient } from '../../devstack/grpc-client.ts';
import { freePort, waitFor } from '../../devstack/ports.ts';
import { ROOT } from '../../devstack/tools.ts';
import { STATE_HEALTH_SERVICES } from '../../src/server/server.ts';
import type { ReloadedState } from '../../src/telemetry/metrics.ts';
import { OPENAI_PROVIDER_KEY } from '../helpers/demo-keys.ts';
import { judge } from '../helpers/fault-judge.ts';
import { byStatus, startLoad, type Outcome, type Shot } from '../helpers/load.ts';
import { sample, scrape } from '../helpers/metrics.ts';
import { newWorkDir, useStack } from '../helpers/stack.ts';
import { rememberSecret } from '../helpers/suite-secrets.ts';

const RATE = 150;
const dir = newWorkDir('faults-state-config');
const policies = path.join(dir, 'policies');
const store = path.join(dir, 'keys.json');
const openaiKeyFile = path.join(dir, 'secrets', 'openai');
const ALLOW = 'rules:\n  - id: identified\n    effect: allow\n    when: identity.workload != "" && llm.operation != "unknown"\n';
const DENY = 'rules:\n  - id: no-gpt-4o-for-wl-a\n    effect: deny\n    reason: model_not_allowed\n    when: identity.workload == "wl-a" && llm.model == "gpt-4o"\n';

async function createKey(...args: string[]): Promise<{ id: string; key: string }> {
  const out = new PassThrough();
  const chunks: string[] = [];
  out.on('data', (c: Buffer) => chunks.push(c.toString()));
  const stderr = process.stderr.write;
  process.stderr.write = () => true;
  try {
    await keys(['create', '--store', store, ...args], out);
  } finally {
    process.stderr.write = stderr;
  }
  const text = chunks.join('');
  const id = /^id: (\S+)$/m.exec(text)?.[1];
  const key = /^key: (\S+)$/m.exec(text)?.[1];
  if (!id || !key) throw new Error('keys create printed no key');
  rememberSecret(`faults-state key ${id}`, key);
  return { id, key };
}

let metricsPort = 0;
let keyA = '';
let keyRevoked = '';
let goodStore = '';
let config = '';

beforeAll(async () => {
  metricsPort = await freePort();
  mkdirSync(policies, { recursive: true });
  writeFileSync(path.join(policies, '10-allow.yaml'), ALLOW);
  writeFileSync(path.join(policies, '20-deny.yaml'), DENY);
  mkdirSync(path.dirname(openaiKeyFile), { recursive: true });
  writeFileSync(openaiKeyFile, `${OPENAI_PROVIDER_KEY}\n`);
  keyA = (await createKey('--workload', 'wl-a', '--models', 'gpt-4o*')).key;
  const revoked = await createKey('--workload', 'wl-b', '--models', '*');
  keyRevoked = revoked.key;
  await keys(['revoke', '--store', store, '--id', revoked.id], new PassThrough());
  goodStore = readFileSync(store, 'utf8');
  config = path.join(dir, 'llm-authz.yaml');
  writeFileSync(
    config,
    `providers:
  - {name: openai, api: openai, route: openai, credential: {file: ${openaiKeyFile}}}
  - {name: anthropic, api: anthropic, route: anthropic, credential: {file: ${path.join(ROOT, 'examples/quickstart/secrets/anthropic-api-key')}}}
identity:
  key_store: {file: ${store}, reload_interval_ms: 100}
policy: {dir: ${policies}, watch: true}
telemetry:
  metrics: {prometheus: {listen: "127.0.0.1:${metricsPort}"}}
`,
  );
});

const chat = (model: string): string => JSON.stringify({ model, messages: [{ role: 'user', content: 'say hello' }] });
const json: [string, string] = ['content-type', 'application/json'];

/** Four kinds of request: allowed; denied by the policy; outside the key's scope; a revoked key. */
const KINDS = ['allowed', 'policy-deny', 'scope-deny', 'revoked'] as const;
function shot(i: number): Shot {
  const kind = KINDS[i % KINDS.length]!;
  const bearer = (k: string): [string, string] => ['authorization', `Bearer ${k}`];
  switch (kind) {
    case 'allowed':
      return { request: { path: '/v1/chat/completions', headers: [json, bearer(keyA)], body: chat('gpt-4o-mini') }, expect: 'allow' };
    case 'policy-deny':
      return { request: { path: '/v1/chat/completions', headers: [json, bearer(keyA)], body: chat('gpt-4o') }, expect: 'deny' };
    case 'scope-deny':
      return { request: { path: '/v1/chat/completions', headers: [json, bearer(keyA)], body: chat('gpt-4.1') }, expect: 'deny' };
    case 'revoked':
      return { request: { path: '/v1/chat/completions', headers: [json, bearer(keyRevoked)], body: chat('gpt-4o-mini') }, expect: 'deny' };
  }
}

/** The good state's answer per kind. */
const GOOD: Record<(typeof KINDS)[number], string> = {
  allowed: '200',
  'policy-deny': '403 model_not_allowed',
  'scope-deny': '403 model_not_allowed',
  revoked: '401 revoked_credentials',
};

const goodOf = (o: Outcome): string => GOOD[KINDS[o.i % KINDS.length]!];

describe('the reloaded state goes bad under load', () => {
  const stack = useStack('faults-state', {
    get config() {
      return config;
    },
  });
  let client: AuthzClient | undefined;
  afterAll(() => client?.close());

  const health = (state: ReloadedState): Promise<string> => client!.health(STATE_HEALTH_SERVICES[state]);
  const stale = async (state: ReloadedState): Promise<number> => sample(await scrape(metricsPort), 'llm_authz_state_stale', `state="${state}"`);
  const waitHealth = (state: ReloadedState, want: string): Promise<true> =>
    waitFor(`${state} health ${want}`, async () => ((await health(state)) === want ? true : undefined), 30_000);

  /** Breaks the source, checks the answers under load and the reports, repairs, checks recovery. */
  async function fault(state: ReloadedState, name: string, breakIt: () => void, repair: () => void): Promise<void> {
    const s = stack();
    client ??= createAuthzClient(`127.0.0.1:${s.authz.port}`);
    expect(await health(state)).toBe('SERVING');
    expect(await stale(state)).toBe(0);
    const providerBefore = s.openai.requests.length;
    let repaired = false;
    breakIt();
    try {
      await waitHealth(state, 'NOT_SERVING');
      const recordsBefore = (await s.authz.settledDecisions()).length;
      const outcomes = await startLoad({ url: s.url, rate: RATE, durationMs: 2000, shot }).done();
      const records = (await s.authz.settledDecisions()).slice(recordsBefore);
      const seen = s.openai.requests.slice(providerBefore);
      const judged = judge(outcomes, goodOf, { records, provider: seen });
      const summary = JSON.stringify({ fault: name, byStatus: byStatus(outcomes), ...judged.summary });
      process.stderr.write(`[faults] ${summary}\n`);
      // the last good state decided every request (a record each) as before: every answer is its
      // decision or a fail-closed 503 at a deadline under load, never another answer
      expect(judged.problems, summary).toEqual([]);
      expect(records.length, summary).toBeLessThanOrEqual(outcomes.length);
      // each kind of request was decided by the last good state (llm-authz's records), whatever the load
      const byRequest = new Map(outcomes.map((o) => [o.requestId, o]));
      for (const kind of KINDS) {
        const decided = records.filter((r) => {
          const o = byRequest.get(String(r['http.request.id']));
          return o !== undefined && KINDS[o.i % KINDS.length] === kind;
        });
        expect(decided.length, `${kind}: ${summary}`).toBeGreaterThan(0);
      }
      expect(await stale(state)).toBe(1);
      expect(await health('policy' === state ? 'key_store' : 'policy')).toBe('SERVING');
      // the provider got the last good key, and only for the allowed requests
      expect(seen.every((r) => r.headers['authorization'] === `Bearer ${OPENAI_PROVIDER_KEY}`)).toBe(true);
      repair();
      repaired = true;
      await waitHealth(state, 'SERVING');
      expect(await stale(state)).toBe(0);
      const recoveredBefore = (await s.authz.settledDecisions()).length;
      const recovered = await startLoad({ url: s.url, rate: RATE, durationMs: 500, shot }).done();
      const recoveredRecords = (await s.authz.settledDecisions()).slice(recoveredBefore);
      expect(judge(recovered, goodOf, { records: recoveredRecords }).problems).toEqual([]);
      expect(recoveredRecords.length).toBeGreaterThan(0);
    } finally {
      // a failed check leaves no broken source behind for the next test
      if (!repaired) repair();
    }
  }

  it('a policy file truncated mid-write', async () => {
    const file = path.join(policies, '20-deny.yaml');
    // cut inside the rule's expression: the file is no longer a valid policy
    await fault(
      'policy',
      'policy file truncated',
      () => writeFileSync(file, DENY.slice(0, DENY.indexOf('&&') + 3)),
      () => writeFileSync(file, DENY),
    );
    const logs = stack()
      .authz.logs()
      .map((l) => String(l['msg']));
    expect(logs).toContain('policy set rejected; the last good set stays in force');
  });

  it('the policy folder deleted (and put back: it reloads by itself)', async () => {
    const saved = newWorkDir('faults-state-saved');
    cpSync(policies, saved, { recursive: true });
    await fault(
      'policy',
      'policy folder deleted',
      () => rmSync(policies, { recursive: true, force: true }),
      () => cpSync(saved, policies, { recursive: true }),
    );
  });

  it('the policy folder emptied', async () => {
    const saved = newWorkDir('faults-state-saved-files');
    cpSync(policies, saved, { recursive: true });
    await fault(
      'policy',
      'policy folder emptied',
      () => {
        for (const f of ['10-allow.yaml', '20-deny.yaml']) rmSync(path.join(policies, f));
      },
      () => cpSync(saved, policies, { recursive: true }),
    );
  });

  it('the key store replaced by garbage', async () => {
    await fault(
      'key_store',
      'key store garbage',
      () => writeFileSync(store, '{"version": 1, "keys": [garbage'),
      () => writeFileSync(store, goodStore),
    );
  });

  it('a provider-key file emptied', async () => {
    await fault(
      'credentials',
      'provider key emptied',
      () => writeFileSync(openaiKeyFile, ''),
      () => writeFileSync(openaiKeyFile, `${OPENAI_PROVIDER_KEY}\n`),
    );
  });
});
