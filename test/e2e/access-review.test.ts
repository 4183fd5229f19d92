/**
 * Access review through the real Envoy (envoy/sidecar-mtls.yaml): API keys with entitlement
 * metadata, SPIFFE callers under entitlement rules, a JWT caller without a record. Through
 * Envoy: an overdue review flagged by default and denied by a policy until `keys recertify`;
 * `keys revoke --workload` offboarding every key of a workload and putting it on the revocation
 * list; a SPIFFE ID added to the revocation list denied (`revoked_identity`) within one reload
 * interval. The decision log of that run (rotated: gzip + plain; with the outcome records
 * llm-authz wrote from the responses, two of them given a planted unknown field) feeds
 * `llm-authz inventory`: each finding names exactly the identities
 * that should trigger it. The HTML report opens in a real headless Chromium: no console error,
 * no request beyond the file, the expected findings rows, sorting by column; a screenshot is kept.
 * Last, the other revocation-list entries through Envoy: a JWT issuer+subject and an agent.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { gzipSync } from 'node:zlib';
import { chromium, type Browser } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it, onTestFailed } from 'vitest';
import { startMtlsStack, type MtlsStack } from '../../devstack/mtls-stack.ts';
import { waitFor } from '../../devstack/ports.ts';
import { cliEntry } from '../../devstack/tools.ts';
import { MOCK_USAGE } from '../../devstack/mock-replies.ts';
import type { Report } from '../../src/inventory/report.ts';
import { createPki, type Pki } from '../helpers/identity-pki.ts';
import { signingKey, signToken } from '../helpers/identity.ts';
import { startJwksServer, type JwksServer } from '../helpers/jwks-server.ts';
import { mtlsCall, type ClientCert, type Reply } from '../helpers/mtls-client.ts';
import { scanText } from '../helpers/secret-scan.ts';
import { newWorkDir } from '../helpers/stack.ts';
import { rememberPrivateKeyPem, rememberSecret, suiteSecrets, SUITE_PROMPTS } from '../helpers/suite-secrets.ts';
import { exportJWK } from 'jose';

const TD = 'prod.test';
const W = (p: string): string => `spiffe://${TD}/ns/${p}`;
const ISS = 'https://issuer.access.test';
const ENVOY_ISS = 'https://envoy-issuer.access.test';
const RELOAD_MS = 200;
/** A tool argument as a model would send it back: must never reach a report. */
const TOOL_ARGUMENT = 'tool argument canary 91c2e7: drop the ledger';

let dir: string;
let pki: Pki;
let jwks: JwksServer;
let stack: MtlsStack;
let store: string;
let revocationList: string;
let failed = false;
const certs = new Map<string, ClientCert>();
const keyOf = new Map<string, { id: string; key: string }>();

function cli(args: string[]): string {
  return execFileSync(process.execPath, [cliEntry(), ...args], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
}
function createKey(name: string, workload: string, args: string[]): { id: string; key: string } {
  const out = cli(['keys', 'create', '--store', store, '--workload', workload, ...args]);
  const id = /^id: (\S+)$/m.exec(out)?.[1];
  const key = /^key: (\S+)$/m.exec(out)?.[1];
  if (!id || !key) throw new Error('keys printed no key');
  rememberSecret(`access-review API key ${name}`, key);
  keyOf.set(name, { id, key });
  return { id, key };
}
function cert(workload: string): ClientCert {
  let c = certs.get(workload);
  if (c === undefined) {
    c = pki.client(`c${certs.size}`, workload);
    rememberPrivateKeyPem(`access-review client key ${workload}`, readFileSync(c.key, 'utf8'));
    certs.set(workload, c);
  }
  return c;
}
function call(workload: string, o: { key?: string | undefined; bearer?: string; model?: string; tools?: string[] } = {}): Promise<Reply> {
  const body: Record<string, unknown> = { model: o.model ?? 'gpt-4o-mini', messages: [{ role: 'user', content: SUITE_PROMPTS[1] }] };
  if (o.tools) body['tools'] = o.tools.map((name) => ({ type: 'function', function: { name, parameters: { type: 'object' } } }));
  const secret = o.key ?? o.bearer;
  return mtlsCall({ port: stack.port, ca: pki.caCert, client: cert(workload), body, headers: secret ? { authorization: `Bearer ${secret}` } : {} });
}
const decisionsFile = (): string => path.join(dir, 'decisions.log');
function decisions(): Record<string, unknown>[] {
  if (!existsSync(decisionsFile())) return [];
  return readFileSync(decisionsFile(), 'utf8')
    .split('\n')
    .filter(Boolean)
    .map((l) => JSON.parse(l) as Record<string, unknown>);
}
function decisionOf(r: Reply): Promise<Record<string, unknown>> {
  const id = r.headers['x-llm-authz-decision-id'];
  return waitFor('the decision line', () => decisions().find((d) => d['decision.id'] === id), 5000);
}
async function generation(what: 'key store' | 'revocation list', n: number): Promise<void> {
  await waitFor(`${what} generation ${n}`, () => (stack.authz.logs().some((l) => l['msg'] === `${what} reloaded` && Number(l['generation']) >= n) ? true : undefined), 10_000);
}

beforeAll(async () => {
  dir = newWorkDir('access-review');
  pki = createPki(path.join(dir, 'pki'));
  rememberPrivateKeyPem('access-review server key', readFileSync(pki.serverKey, 'utf8'));
  const k1 = await signingKey('acc1');
  rememberSecret('access-review signing key (private d)', String((await exportJWK(k1.privateKey)).d));
  jwks = await startJwksServer([k1.publicJwk], '/envoy-jwks.json');
  writeFileSync(path.join(dir, 'jwks.json'), JSON.stringify({ keys: [k1.publicJwk] }));
  (globalThis as { accessSigningKey?: typeof k1 }).accessSigningKey = k1;
  store = path.join(dir, 'keys.json');
  revocationList = path.join(dir, 'revoked.json');
  writeFileSync(revocationList, '{"version": 1, "revoked": []}\n');
  mkdirSync(path.join(dir, 'policies'));
  writeFileSync(
    path.join(dir, 'policies', 'rules.yaml'),
    `rules:
  - id: strict-review
    description: team-strict's entitlements stop at their review date
    effect: deny
    when: identity.entitlement.review_overdue && identity.entitlement.owner == "team-strict"
  - id: identified
    effect: allow
    when: "true"
`,
  );
  const owned = ['--owner', 'team-a', '--approved-by', 'alice@example.org', '--review-in', '90d'];
  createKey('clean', W('apps/sa/clean'), ['--models', 'gpt-4o-mini', '--providers', 'openai', '--tools', 'search', ...owned]);
  createKey('never', W('apps/sa/never'), ['--models', 'gpt-4o-mini', ...owned]);
  createKey('idle', W('apps/sa/idle'), ['--models', 'gpt-4o-mini', ...owned]);
  createKey('review', W('apps/sa/review'), ['--models', 'gpt-4o-mini', '--owner', 'team-b', '--approved-by', 'bob@example.org', '--review-by', '2020-01-01']);
  createKey('expiring', W('apps/sa/expiring'), ['--models', 'gpt-4o-mini', '--expires-in', '3d', ...owned]);
  createKey('noowner', W('apps/sa/noowner'), ['--models', 'gpt-4o-mini', '--approved-by', 'alice@example.org']);
  createKey('broad', W('apps/sa/broad'), ['--models', 'gpt-4o-mini,claude-*', ...owned]);
  createKey('strict', W('apps/sa/strict'), ['--models', 'gpt-4o-mini', '--owner', 'team-strict', '--approved-by', 'erin@example.org', '--review-by', '2020-01-01']);
  createKey('off1', W('apps/sa/offboard'), ['--models', 'gpt-4o-mini', ...owned]);
  createKey('off2', W('apps/sa/offboard'), ['--models', 'gpt-4o-mini', '--agent', 'helper', ...owned]);
  const config = path.join(dir, 'llm-authz.yaml');
  const quick = path.resolve('examples/quickstart/secrets');
  writeFileSync(
    config,
    `providers:
  - {name: openai, api: openai, route: openai, credential: {file: ${path.join(quick, 'openai-api-key')}}}
  - {name: anthropic, api: anthropic, route: anthropic, credential: {file: ${path.join(quick, 'anthropic-api-key')}}}
identity:
  key_store: {file: keys.json, reload_interval_ms: ${RELOAD_MS}}
  revocation_list: {file: revoked.json, reload_interval_ms: ${RELOAD_MS}}
  spiffe: {trust_domains: [${TD}]}
  jwt:
    issuers: [{issuer: "${ISS}", audiences: [llm-authz], jwks: {file: jwks.json}}]
  entitlements:
    - {id: jobs, match: {method: spiffe, workload: "${W('jobs/*')}"}, models: [gpt-4o-mini], owner: team-jobs, approved_by: frank@example.org, approved_at: "2026-01-05T00:00:00Z", review_by: "2099-01-01T00:00:00Z"}
    - {id: contractors, match: {method: spiffe, workload: "${W('contractors/*')}"}, models: [gpt-4o-mini], owner: vendor-mgmt, approved_by: gina@example.org, review_by: "2099-01-01T00:00:00Z"}
policy: {dir: policies}
decision_log: {sink: ${path.join(dir, 'decisions.log')}, flush_ms: 20}
`,
  );
  stack = await startMtlsStack({
    workDir: dir,
    config,
    tls: { serverCert: pki.serverCert, serverKey: pki.serverKey, clientCa: pki.caCert },
    jwt: { issuer: ENVOY_ISS, audience: 'llm-authz', jwksPort: jwks.port, jwksPath: '/envoy-jwks.json' },
  });
});

afterAll(async () => {
  await stack?.stop();
  await jwks?.close();
  if (failed) process.stderr.write(`[e2e] logs of the failed test kept in ${dir}\n`);
});

/** When the idle key's last request was made (the unused-for threshold is measured from it). */
let idleDoneAt = 0;

describe('access review through the real Envoy', () => {
  const track = (): void => {
    onTestFailed(() => {
      failed = true;
    });
  };

  it('records owner and review state per decision; an overdue review is flagged, not denied, by default', async () => {
    track();
    expect((await call(W('apps/sa/idle'), { key: keyOf.get('idle')?.key })).status).toBe(200);
    // A short-lived key, used at once (it is presented again once expired, below).
    const gen = stack.authz.logs().filter((l) => l['msg'] === 'key store reloaded').length + 1;
    createKey('temp', W('apps/sa/temp'), ['--models', 'gpt-4o-mini', '--expires-in', '10s', '--owner', 'team-a', '--approved-by', 'alice@example.org', '--review-in', '90d']);
    await generation('key store', gen + 1);
    expect((await call(W('apps/sa/temp'), { key: keyOf.get('temp')?.key })).status).toBe(200);
    idleDoneAt = Date.now();
    await new Promise((r) => setTimeout(r, 100));
    const clean = await call(W('apps/sa/clean'), { key: keyOf.get('clean')?.key, tools: ['search'] });
    expect(clean.status).toBe(200);
    expect(await decisionOf(clean)).toMatchObject({ 'identity.credential_id': keyOf.get('clean')?.id, 'identity.owner': 'team-a', 'identity.review_overdue': false });
    const review = await call(W('apps/sa/review'), { key: keyOf.get('review')?.key });
    expect(review.status).toBe(200);
    expect(await decisionOf(review)).toMatchObject({ 'decision.effect': 'allow', 'identity.owner': 'team-b', 'identity.review_overdue': true });
    for (const name of ['expiring', 'noowner', 'broad', 'off1', 'off2']) {
      const workload = name.startsWith('off') ? W('apps/sa/offboard') : W(`apps/sa/${name}`);
      expect((await call(workload, { key: keyOf.get(name)?.key })).status).toBe(200);
    }
    const job = await call(W('jobs/sa/etl'));
    expect(job.status).toBe(200);
    expect(await decisionOf(job)).toMatchObject({ 'identity.method': 'spiffe', 'identity.owner': 'team-jobs', 'identity.review_overdue': false });
    const token = await signToken((globalThis as { accessSigningKey?: Parameters<typeof signToken>[0] }).accessSigningKey as Parameters<typeof signToken>[0], {
      iss: ISS,
      aud: 'llm-authz',
      sub: W('apps/sa/reporter'),
    });
    rememberSecret('access-review JWT reporter', token);
    const jwt = await call(W('apps/sa/reporter'), { bearer: token });
    expect(jwt.status).toBe(200);
    expect(await decisionOf(jwt)).toMatchObject({ 'identity.method': 'jwt', 'identity.workload': W('apps/sa/reporter') });
    expect(Object.keys(await decisionOf(jwt))).not.toContain('identity.owner');
  });

  it('recertify: a policy denies the overdue entitlement; after `keys recertify` it is allowed again', async () => {
    track();
    const strict = keyOf.get('strict');
    const denied = await call(W('apps/sa/strict'), { key: strict?.key });
    expect(denied.status).toBe(403);
    expect(await decisionOf(denied)).toMatchObject({
      'decision.reason': 'denied_by_policy',
      'policy.rule': 'strict-review',
      'identity.review_overdue': true,
      'identity.owner': 'team-strict',
    });
    const gen = stack.authz.logs().filter((l) => l['msg'] === 'key store reloaded').length + 1;
    expect(cli(['keys', 'recertify', '--store', store, '--id', strict?.id ?? '', '--approved-by', 'dana@example.org', '--review-in', '90d'])).toContain(
      'approved by dana@example.org',
    );
    await generation('key store', gen + 1);
    const allowed = await call(W('apps/sa/strict'), { key: strict?.key });
    expect(allowed.status).toBe(200);
    expect(await decisionOf(allowed)).toMatchObject({ 'decision.effect': 'allow', 'identity.review_overdue': false });
  });

  it('offboarding: `keys revoke --workload` revokes every key of the workload and lists it; each is denied, whatever it presents', async () => {
    track();
    const keysGen = stack.authz.logs().filter((l) => l['msg'] === 'key store reloaded').length + 1;
    const listGen = stack.authz.logs().filter((l) => l['msg'] === 'revocation list reloaded').length + 1;
    const out = cli(['keys', 'revoke', '--store', store, '--workload', W('apps/sa/offboard'), '--revocations', revocationList]);
    expect(out).toContain(`revoked 2 key(s) of workload '${W('apps/sa/offboard')}'`);
    await generation('key store', keysGen + 1);
    await generation('revocation list', listGen + 1);
    for (const name of ['off1', 'off2']) {
      const r = await call(W('apps/sa/offboard'), { key: keyOf.get(name)?.key });
      expect(r.status).toBe(401);
      expect(await decisionOf(r)).toMatchObject({
        'decision.reason': 'revoked_credentials',
        'identity.credential_id': keyOf.get(name)?.id,
        'identity.workload': W('apps/sa/offboard'),
      });
    }
    // Its certificate alone (SPIFFE) is denied too: the workload is on the revocation list.
    const bare = await call(W('apps/sa/offboard'));
    expect(bare.status).toBe(403);
    expect(bare.json).toMatchObject({ error: { code: 'revoked_identity' } });
    expect(stack.openai.requests.length).toBeGreaterThan(0);
  });

  it('revocation list: a SPIFFE ID added is denied revoked_identity after the next reload; other callers are not', async () => {
    track();
    const vendor = W('contractors/sa/vendor');
    expect((await call(vendor)).status).toBe(200);
    const gen = stack.authz.logs().filter((l) => l['msg'] === 'revocation list reloaded').length + 1;
    expect(cli(['revocations', 'add', '--list', revocationList, '--spiffe-id', vendor, '--reason', 'contract ended'])).toContain('added to the revocation list');
    await generation('revocation list', gen + 1);
    const r = await call(vendor);
    expect(r.status).toBe(403);
    expect(await decisionOf(r)).toMatchObject({
      'decision.reason': 'revoked_identity',
      'decision.phase': 'identity',
      'identity.workload': vendor,
      'identity.owner': 'vendor-mgmt',
    });
    expect((await call(W('jobs/sa/etl'))).status).toBe(200);
    // An expired key presented again.
    const expired = await waitFor(
      'the short-lived key to expire',
      async () => {
        const x = await call(W('apps/sa/temp'), { key: keyOf.get('temp')?.key });
        return x.status === 401 ? x : undefined;
      },
      30_000,
      500,
    );
    expect(await decisionOf(expired)).toMatchObject({ 'decision.reason': 'expired_credentials', 'identity.credential_id': keyOf.get('temp')?.id });
    // Used once more after recertification and by the clean key, so their use is the newest.
    expect((await call(W('apps/sa/clean'), { key: keyOf.get('clean')?.key, tools: ['search'] })).status).toBe(200);
  });
});

describe('llm-authz inventory over the decision log of that run', () => {
  const track = (): void => {
    onTestFailed(() => {
      failed = true;
    });
  };
  let logs: string;
  let json: Report;
  let html: string;
  const expected: Record<string, string[]> = {};
  let clean: string[] = [];

  beforeAll(async () => {
    // The outcome records of the clean key's two allowed requests (written as their responses
    // ended; the decision log writes every 20 ms).
    const cleanId = keyOf.get('clean')?.id;
    const read = (): Record<string, unknown>[] =>
      readFileSync(decisionsFile(), 'utf8')
        .split('\n')
        .filter(Boolean)
        .map((l) => JSON.parse(l) as Record<string, unknown>);
    const cleanAllowed = (all: Record<string, unknown>[]): Set<unknown> =>
      new Set(all.filter((d) => d['kind'] === 'decision' && d['identity.credential_id'] === cleanId && d['decision.effect'] === 'allow').map((d) => d['decision.id']));
    const all = await waitFor("the clean key's two outcome records", () => {
      const a = read();
      const ids = cleanAllowed(a);
      return a.filter((o) => o['kind'] === 'outcome' && ids.has(o['decision.id'])).length === 2 ? a : undefined;
    });
    // A field the inventory does not know, planted in those outcome lines: a tool argument.
    const ids = cleanAllowed(all);
    const lines = all.filter((d) => d['kind'] === 'decision').map((d) => JSON.stringify(d));
    const outcomes = all.filter((d) => d['kind'] === 'outcome').map((o) => JSON.stringify(ids.has(o['decision.id']) ? { ...o, tool_arguments: TOOL_ARGUMENT } : o));
    // Not registered with the suite-wide scan: the input log below holds it on purpose.
    logs = path.join(dir, 'logs');
    mkdirSync(logs);
    // As logrotate leaves them: the older half compressed, the newer plain.
    const half = Math.floor(lines.length / 2);
    writeFileSync(path.join(logs, 'decisions.log.1.gz'), gzipSync(`${lines.slice(0, half).join('\n')}\n`));
    writeFileSync(path.join(logs, 'decisions.log'), `${[...lines.slice(half), ...outcomes, 'a line that is not JSON'].join('\n')}\n`);
    const now = Date.now();
    const common = [
      'inventory',
      '--config',
      path.join(dir, 'llm-authz.yaml'),
      '--decisions',
      logs,
      '--since',
      '1h',
      '--now',
      new Date(now).toISOString(),
      '--unused-for',
      `${now - idleDoneAt}ms`,
      '--expiring-within',
      '7d',
    ];
    for (const format of ['json', 'md', 'csv', 'html'])
      execFileSync(process.execPath, [cliEntry(), ...common, '--format', format, '--out', path.join(dir, `access-review.${format}`)], { stdio: ['ignore', 'ignore', 'pipe'] });
    json = JSON.parse(readFileSync(path.join(dir, 'access-review.json'), 'utf8')) as Report;
    html = readFileSync(path.join(dir, 'access-review.html'), 'utf8');
    const k = (name: string): string => `key:${keyOf.get(name)?.id}`;
    const caller = (method: string, issuer: string, workload: string): string => `caller:${JSON.stringify([method, issuer, workload, ''])}`;
    Object.assign(expected, {
      never_used: [k('never')],
      unused: [k('idle')],
      review_overdue: [k('review')],
      expiring_soon: [k('expiring')],
      presented_after_end: [k('off1'), k('off2'), k('temp'), 'rule:contractors', caller('spiffe', `spiffe://${TD}`, W('apps/sa/offboard'))],
      no_owner: [k('noowner')],
      scope_broader_than_use: [k('broad')],
      no_entitlement_record: [caller('jwt', ISS, W('apps/sa/reporter')), caller('spiffe', `spiffe://${TD}`, W('apps/sa/offboard'))],
    });
    clean = [k('clean'), k('strict'), 'rule:jobs'];
  });

  it.each(['never_used', 'unused', 'review_overdue', 'expiring_soon', 'presented_after_end', 'no_owner', 'scope_broader_than_use', 'no_entitlement_record'])(
    '%s names exactly the identities that should trigger it',
    (code) => {
      expect(
        json.findings
          .filter((f) => f.code === code)
          .map((f) => f.row)
          .sort(),
      ).toEqual([...(expected[code] ?? [])].sort());
    },
  );

  it('the clean identities have no finding; usage, tokens and tool calls are joined', () => {
    const flagged = new Set(json.findings.map((f) => f.row));
    expect(clean.filter((c) => flagged.has(c))).toEqual([]);
    const row = json.rows.find((r) => r.key === `key:${keyOf.get('clean')?.id}`);
    expect(row).toMatchObject({
      allowed: 2,
      modelsUsed: ['gpt-4o-mini'],
      providersUsed: ['openai'],
      toolsOffered: ['search'],
      toolsCalled: ['search'],
      inputTokens: 2 * MOCK_USAGE.openai.input,
      outputTokens: 2 * MOCK_USAGE.openai.output,
      owner: 'team-a',
      approvedBy: 'alice@example.org',
    });
    expect(json.rows.find((r) => r.key === 'rule:jobs')).toMatchObject({ allowed: 2, denied: 0, callers: [W('jobs/sa/etl')], owner: 'team-jobs' });
    expect(json.input).toMatchObject({ truncatedFiles: 0, unreadableFiles: 0, malformed: { not_json: 1 }, unknownFields: { tool_arguments: 2 } });
    expect(json.input.files.map((f) => [path.basename(f.path), f.gzip])).toEqual([
      ['decisions.log.1.gz', true],
      ['decisions.log', false],
    ]);
  });

  it('no report format carries a credential, a prompt or a tool argument', () => {
    const secrets = [...suiteSecrets(), { label: 'access-review tool argument', value: TOOL_ARGUMENT }];
    expect(secrets.map((s) => s.value)).toEqual(expect.arrayContaining([keyOf.get('clean')?.key, SUITE_PROMPTS[1]]));
    for (const format of ['json', 'md', 'csv', 'html']) {
      const text = readFileSync(path.join(dir, `access-review.${format}`), 'utf8');
      expect(scanText(text, secrets, format)).toEqual([]);
    }
    // The check can fail: the input log holds the tool argument (planted in its outcome lines).
    expect(scanText(readFileSync(path.join(logs, 'decisions.log'), 'utf8'), secrets, 'log').map((h) => h.secret)).toContain('access-review tool argument');
  });

  describe('the HTML report in a real headless Chromium', () => {
    let browser: Browser;
    beforeAll(async () => {
      const bin = process.env['CHROMIUM_BIN'] ?? '/usr/bin/chromium';
      if (!existsSync(bin)) throw new Error(`Chromium is missing at ${bin}: run 'bash scripts/tools.sh chromium' (Debian package chromium) or set CHROMIUM_BIN`);
      browser = await chromium.launch({ executablePath: bin, args: ['--no-sandbox'] });
    });
    afterAll(async () => {
      await browser?.close();
    });

    it('opens without console errors or requests, shows the findings rows, sorts by a column; screenshot kept', async () => {
      track();
      const page = await browser.newPage({ viewport: { width: 1500, height: 1000 } });
      const problems: string[] = [];
      const requests: string[] = [];
      page.on('console', (m) => {
        if (m.type() === 'error' || m.type() === 'warning') problems.push(`${m.type()}: ${m.text()}`);
      });
      page.on('pageerror', (e) => problems.push(`page error: ${e.message}`));
      page.on('request', (r) => requests.push(r.url()));
      const url = `file://${path.join(dir, 'access-review.html')}`;
      await page.goto(url);
      expect(problems).toEqual([]);
      expect(requests).toEqual([url]);
      expect(await page.title()).toContain('access review');
      // Findings first, with exactly the expected rows.
      const shown = await page.locator('#findings tbody tr').evaluateAll((rows) => rows.map((r) => `${r.getAttribute('data-code')} ${r.getAttribute('data-row')}`));
      const want = Object.entries(expected).flatMap(([code, rows]) => rows.map((r) => `${code} ${r}`));
      expect(shown.sort()).toEqual(want.sort());
      expect(await page.locator('h2').first().textContent()).toBe('Findings');
      expect(await page.locator('#chart svg rect').count()).toBeGreaterThan(3);
      await page.screenshot({ path: path.join(dir, 'access-review.png'), fullPage: true });
      // Sorting: the "allowed" column, ascending then descending.
      const col = (await page.locator('#entitlements thead th').allTextContents()).indexOf('allowed');
      expect(col).toBeGreaterThan(0);
      const allowed = (): Promise<number[]> =>
        page
          .locator(`#entitlements tbody tr td:nth-child(${col + 1})`)
          .allTextContents()
          .then((t) => t.map(Number));
      const before = await allowed();
      await page.click(`#entitlements thead th:nth-child(${col + 1})`);
      const asc = await allowed();
      expect(asc).toEqual([...before].sort((a, b) => a - b));
      await page.click(`#entitlements thead th:nth-child(${col + 1})`);
      expect(await allowed()).toEqual([...before].sort((a, b) => b - a));
      expect(await page.locator(`#entitlements thead th:nth-child(${col + 1})`).getAttribute('aria-sort')).toBe('descending');
      // The check can fail: the counts differ, so the two orders differ.
      expect(asc).not.toEqual([...asc].reverse());
      await page.click('#findings thead th:nth-child(2)');
      const labels = await page.locator('#findings tbody tr td:nth-child(2)').allTextContents();
      expect(labels).toEqual([...labels].sort((a, b) => a.localeCompare(b)));
      expect(problems).toEqual([]);
      expect(html).not.toContain('<link');
      await page.close();
    });
  });
});

// After the inventory (whose expected findings are the run above): the two other kinds of
// revocation-list entry through the real Envoy.
describe('revocation list: a JWT issuer+subject and an agent', () => {
  it('a JWT caller listed by issuer and subject is denied revoked_identity after the next reload; another subject of the issuer is not', async () => {
    const key = (globalThis as { accessSigningKey?: Parameters<typeof signToken>[0] }).accessSigningKey as Parameters<typeof signToken>[0];
    const token = async (sub: string): Promise<string> => {
      const t = await signToken(key, { iss: ISS, aud: 'llm-authz', sub });
      rememberSecret(`access-review JWT ${sub}`, t);
      return t;
    };
    const gone = W('apps/sa/report-gone');
    const stays = W('apps/sa/report-stays');
    expect((await call(gone, { bearer: await token(gone) })).status).toBe(200);
    const gen = stack.authz.logs().filter((l) => l['msg'] === 'revocation list reloaded').length + 1;
    expect(cli(['revocations', 'add', '--list', revocationList, '--issuer', ISS, '--subject', gone, '--reason', 'report retired'])).toContain('added to the revocation list');
    await generation('revocation list', gen + 1);
    const r = await call(gone, { bearer: await token(gone) });
    expect(r.status).toBe(403);
    expect(r.json).toMatchObject({ error: { code: 'revoked_identity' } });
    expect(await decisionOf(r)).toMatchObject({ 'decision.reason': 'revoked_identity', 'identity.method': 'jwt', 'identity.workload': gone });
    expect((await call(stays, { bearer: await token(stays) })).status).toBe(200);
  });

  it('an agent listed is denied revoked_identity whatever key it presents; the same workload without that agent is not', async () => {
    const workload = W('apps/sa/assist');
    const keysGen = stack.authz.logs().filter((l) => l['msg'] === 'key store reloaded').length + 1;
    createKey('planner', workload, ['--models', 'gpt-4o-mini', '--agent', 'planner', '--owner', 'team-a', '--approved-by', 'alice@example.org', '--review-in', '90d']);
    createKey('assist', workload, ['--models', 'gpt-4o-mini', '--owner', 'team-a', '--approved-by', 'alice@example.org', '--review-in', '90d']);
    await generation('key store', keysGen + 1);
    expect((await call(workload, { key: keyOf.get('planner')?.key })).status).toBe(200);
    const gen = stack.authz.logs().filter((l) => l['msg'] === 'revocation list reloaded').length + 1;
    expect(cli(['revocations', 'add', '--list', revocationList, '--agent', 'planner', '--reason', 'agent decommissioned'])).toContain('added to the revocation list');
    await generation('revocation list', gen + 1);
    const r = await call(workload, { key: keyOf.get('planner')?.key });
    expect(r.status).toBe(403);
    expect(await decisionOf(r)).toMatchObject({ 'decision.reason': 'revoked_identity', 'identity.agent': 'planner', 'identity.credential_id': keyOf.get('planner')?.id });
    expect((await call(workload, { key: keyOf.get('assist')?.key })).status).toBe(200);
  });
});
