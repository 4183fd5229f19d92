/**
 * A synthetic access-review fixture: a config with inline keys, a key store, entitlement rules
 * and a revocation list, and decision/outcome log lines (plain, rotated gzip, a cut-off gzip,
 * malformed lines, unknown fields carrying secrets). One identity per finding plus clean ones;
 * `expected` says which rows each finding must name, and no other.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { gzipSync } from 'node:zlib';
import type { FindingCode } from '../../src/inventory/findings.ts';

export const NOW = Date.parse('2026-03-31T00:00:00Z');
const at = (day: number, hour = 12): string => new Date(Date.parse(`2026-03-${String(day).padStart(2, '0')}T00:00:00Z`) + hour * 3_600_000).toISOString();
const HASH = (n: number): string => `sha256:${n.toString(16).padStart(64, '0')}`;

/** Values that must never reach a report (planted in unknown fields and in malformed lines). */
export const PLANTED_SECRETS = [
  'lla_leak00000001_QmFkIGtleSBpbiBhIGxvZyBsaW5lIGF0IGFsbA',
  'sk-planted-provider-key-8d1f0c',
  'the secret launch code is 7731',
  '{"city": "planted tool argument 4b2e"}',
] as const;

export interface InventoryFixture {
  readonly config: string;
  readonly logs: string;
  readonly expected: Readonly<Record<FindingCode, readonly string[]>>;
  /** Rows that no finding may name. */
  readonly clean: readonly string[];
}

function decision(o: {
  t: string;
  id: string;
  effect?: 'allow' | 'deny';
  reason?: string;
  method?: string;
  workload?: string;
  agent?: string;
  issuer?: string;
  key?: string;
  model?: string;
  provider?: string;
  tools?: string[];
}): Record<string, unknown> {
  const effect = o.effect ?? 'allow';
  const line: Record<string, unknown> = {
    time: o.t,
    'decision.id': o.id,
    'decision.effect': effect,
    'decision.reason': o.reason ?? 'allowed',
    'decision.status': effect === 'allow' ? 200 : 403,
    'decision.phase': 'policy',
  };
  if (o.workload !== undefined) {
    line['identity.method'] = o.method ?? 'api_key';
    line['identity.workload'] = o.workload;
    if (o.agent) line['identity.agent'] = o.agent;
    if (o.issuer) line['identity.issuer'] = o.issuer;
    if (o.key) line['identity.credential_id'] = o.key;
  }
  if (o.model) line['gen_ai.request.model'] = o.model;
  if (o.provider && effect === 'allow') line['llm.provider'] = o.provider;
  if (o.tools) line['llm.tools'] = o.tools;
  return line;
}

export function writeInventoryFixture(dir: string): InventoryFixture {
  mkdirSync(dir, { recursive: true });
  const config = path.join(dir, 'llm-authz.yaml');
  const owned = 'owner: team-a, approved_by: alice, approved_at: "2026-01-02T00:00:00Z", review_by: "2026-12-31T00:00:00Z"';
  writeFileSync(
    config,
    `providers:
  - {name: openai, api: openai}
  - {name: anthropic, api: anthropic}
identity:
  api_keys:
    - {id: clean01, hash: "${HASH(1)}", workload: wl-clean, models: [gpt-4o-mini], providers: [openai], tools: [search], ${owned}}
    - {id: never01, hash: "${HASH(2)}", workload: wl-never, models: [gpt-4o-mini], ${owned}}
    - {id: idle01, hash: "${HASH(3)}", workload: wl-idle, models: [gpt-4o-mini], ${owned}}
    - {id: review01, hash: "${HASH(4)}", workload: wl-review, models: [gpt-4o-mini], owner: team-b, approved_by: bob, review_by: "2026-03-15T00:00:00Z"}
    - {id: noowner01, hash: "${HASH(5)}", workload: wl-noowner, models: [gpt-4o-mini], approved_by: alice, review_by: "2026-12-31T00:00:00Z"}
    - {id: broad01, hash: "${HASH(6)}", workload: wl-broad, models: [gpt-4o-mini, "claude-*"], tools: [search, "db_*"], ${owned}}
  key_store: {file: keys.json}
  revocation_list: {file: revoked.json}
  entitlements:
    - {id: jobs, match: {method: spiffe, workload: "spiffe://prod.test/ns/jobs/*"}, models: [gpt-4o-mini], ${owned}}
    - {id: contractors, match: {method: spiffe, workload: "spiffe://prod.test/ns/contractors/*"}, models: [gpt-4o-mini], ${owned}}
`,
  );
  const stored = (id: string, workload: string, extra: Record<string, unknown>): Record<string, unknown> => ({
    id,
    hash: HASH(100 + id.length),
    workload,
    models: ['gpt-4o-mini'],
    created_at: '2026-01-02T00:00:00Z',
    revoked: false,
    owner: 'team-c',
    approved_by: 'carol',
    approved_at: '2026-01-02T00:00:00Z',
    review_by: '2026-12-31T00:00:00Z',
    ...extra,
  });
  writeFileSync(
    path.join(dir, 'keys.json'),
    JSON.stringify({
      version: 1,
      keys: [
        stored('expiring01', 'wl-expiring', { expires_at: '2026-04-05T00:00:00Z' }),
        stored('gone01', 'wl-gone', { revoked: true, revoked_at: '2026-03-20T00:00:00Z' }),
        stored('later01', 'wl-later', { expires_at: '2026-06-30T00:00:00Z' }),
      ],
    }),
  );
  writeFileSync(
    path.join(dir, 'revoked.json'),
    JSON.stringify({ version: 1, revoked: [{ spiffe_id: 'spiffe://prod.test/ns/contractors/sa/vendor', revoked_at: '2026-03-25T00:00:00Z' }] }),
  );

  let n = 0;
  const id = (): string => `d-${String(++n).padStart(4, '0')}`;
  const key = (k: string, workload: string, day: number, extra: Partial<Parameters<typeof decision>[0]> = {}) =>
    decision({ t: at(day), id: id(), key: k, workload, model: 'gpt-4o-mini', provider: 'openai', ...extra });
  const old: Record<string, unknown>[] = [
    key('idle01', 'wl-idle', 5),
    key('gone01', 'wl-gone', 10),
    decision({
      t: at(20),
      id: id(),
      method: 'spiffe',
      workload: 'spiffe://prod.test/ns/contractors/sa/vendor',
      issuer: 'spiffe://prod.test',
      model: 'gpt-4o-mini',
      provider: 'openai',
    }),
    // Before the window: not counted.
    key('never01', 'wl-never', 1, { t: '2026-02-10T00:00:00Z' }),
  ];
  const cleanAllowed = key('clean01', 'wl-clean', 30, { tools: ['search'] });
  const current: Record<string, unknown>[] = [
    cleanAllowed,
    {
      kind: 'outcome',
      time: at(30, 13),
      'decision.id': cleanAllowed['decision.id'],
      'gen_ai.usage.input_tokens': 120,
      'gen_ai.usage.output_tokens': 30,
      'llm.response.tool_calls': ['search'],
      'gen_ai.response.model': 'gpt-4o-mini-2024-07-18',
      'llm.response.finish_reason_detail': 'x',
    },
    key('clean01', 'wl-clean', 30, { effect: 'deny', reason: 'model_not_allowed', model: 'o3' }),
    key('review01', 'wl-review', 30),
    key('expiring01', 'wl-expiring', 30),
    key('later01', 'wl-later', 30),
    key('noowner01', 'wl-noowner', 30),
    key('broad01', 'wl-broad', 30, { tools: ['search', 'db_query'] }),
    key('gone01', 'wl-gone', 30, { effect: 'deny', reason: 'revoked_credentials' }),
    decision({ t: at(29), id: id(), method: 'spiffe', workload: 'spiffe://prod.test/ns/jobs/sa/etl', issuer: 'spiffe://prod.test', model: 'gpt-4o-mini', provider: 'openai' }),
    decision({
      t: at(30),
      id: id(),
      effect: 'deny',
      reason: 'revoked_identity',
      method: 'spiffe',
      workload: 'spiffe://prod.test/ns/contractors/sa/vendor',
      issuer: 'spiffe://prod.test',
      model: 'gpt-4o-mini',
    }),
    decision({ t: at(30), id: id(), method: 'jwt', workload: 'svc-unlisted', issuer: 'https://issuer.test', model: 'gpt-4o', provider: 'openai' }),
    // No identity: attributed to no row.
    decision({ t: at(30), id: id(), effect: 'deny', reason: 'no_credentials' }),
    // An outcome whose decision is not in the logs.
    { kind: 'outcome', time: at(30), 'decision.id': 'd-missing', 'gen_ai.usage.input_tokens': 5 },
    // An outcome naming its identity itself.
    {
      kind: 'outcome',
      time: at(30, 14),
      'decision.id': 'd-self',
      'identity.method': 'api_key',
      'identity.workload': 'wl-clean',
      'identity.credential_id': 'clean01',
      'gen_ai.usage.input_tokens': 1,
      'gen_ai.usage.output_tokens': 2,
    },
  ];
  const logs = path.join(dir, 'logs');
  mkdirSync(logs, { recursive: true });
  const lines = (rows: Record<string, unknown>[]): string => rows.map((r) => `${JSON.stringify(r)}\n`).join('');
  // Unknown fields carrying secrets, a wrong-typed known field, malformed lines.
  const hostile = [
    JSON.stringify({
      ...key('clean01', 'wl-clean', 30, { tools: ['search'] }),
      prompt: PLANTED_SECRETS[2],
      authorization: `Bearer ${PLANTED_SECRETS[0]}`,
      [PLANTED_SECRETS[1]]: 1,
      'llm.tool_arguments': PLANTED_SECRETS[3],
    }),
    JSON.stringify({ ...key('clean01', 'wl-clean', 30), 'gen_ai.request.model': 42 }),
    `not json at all ${PLANTED_SECRETS[2]}`,
    JSON.stringify(['an', 'array', PLANTED_SECRETS[0]]),
    JSON.stringify({ kind: 'span', time: at(30), 'decision.id': 'x', secret: PLANTED_SECRETS[1] }),
    JSON.stringify({ time: 'yesterday', 'decision.id': 'y' }),
    `{"time":"${at(30)}","decision.id":"z","decision.effect":"allow","decision.reason":"allowed","prompt":"${PLANTED_SECRETS[2]}`,
  ].join('\n');
  // Rotated: the older lines gzip-compressed (logrotate's compress), the newer plain.
  writeFileSync(path.join(logs, 'decisions.log.1.gz'), gzipSync(lines(old)));
  writeFileSync(path.join(logs, 'decisions.log'), `${lines(current)}\n${hostile}\r\n`);
  // A rotated file cut off mid-stream: its first lines still count.
  const cut = gzipSync(lines([key('later01', 'wl-later', 29), key('later01', 'wl-later', 29)]));
  writeFileSync(path.join(logs, 'decisions.log.2.gz'), cut.subarray(0, cut.length - 12));
  return {
    config,
    logs,
    expected: {
      never_used: ['key:never01'],
      unused: ['key:idle01'],
      review_overdue: ['key:review01'],
      expiring_soon: ['key:expiring01'],
      presented_after_end: ['key:gone01', 'rule:contractors'],
      no_owner: ['key:noowner01'],
      scope_broader_than_use: ['key:broad01'],
      no_entitlement_record: ['caller:["jwt","https://issuer.test","svc-unlisted",""]'],
    },
    clean: ['key:clean01', 'key:later01', 'rule:jobs'],
  };
}
