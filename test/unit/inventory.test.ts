/**
 * `llm-authz inventory` on a synthetic fixture (test/helpers/inventory-fixtures.ts): each
 * finding names exactly the rows that should trigger it; plain, rotated gzip and cut-off gzip
 * logs, malformed lines, unknown and wrong-typed fields are counted, never a crash; no report
 * format carries a planted secret; the outcome join is bounded.
 */
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { gzipSync } from 'node:zlib';
import { beforeAll, describe, expect, it } from 'vitest';
import { inventory, parseInventoryArgs, type InventoryArgs } from '../../src/cli/inventory.ts';
import { loadEntitlements } from '../../src/inventory/entitlements.ts';
import { FINDING_CODES } from '../../src/inventory/findings.ts';
import { MAX_LINE_BYTES, readLogFile } from '../../src/inventory/log-reader.ts';
import { DECISION_FIELDS, parseLogLine } from '../../src/inventory/log-record.ts';
import { csvCell } from '../../src/inventory/render-csv.ts';
import type { Report } from '../../src/inventory/report.ts';
import { runInventory } from '../../src/inventory/run.ts';
import { auditRecord } from '../../src/audit/record.ts';
import { NOW, PLANTED_SECRETS, writeInventoryFixture, type InventoryFixture } from '../helpers/inventory-fixtures.ts';
import { tempDir } from '../helpers/access.ts';
import { ctxOf } from '../helpers/runtime.ts';

let fx: InventoryFixture;
let report: Report;

function args(extra: string[] = []): InventoryArgs {
  return parseInventoryArgs(['--config', fx.config, '--decisions', fx.logs, '--now', new Date(NOW).toISOString(), ...extra]);
}

beforeAll(async () => {
  fx = writeInventoryFixture(path.join(tempDir('inv'), 'fx'));
  report = (await inventory(args(['--format', 'json']))).report;
});

describe('inventory findings', () => {
  it.each(FINDING_CODES)('%s names exactly the rows that should trigger it', (code) => {
    const rows = report.findings
      .filter((f) => f.code === code)
      .map((f) => f.row)
      .sort();
    expect(rows).toEqual([...fx.expected[code]].sort());
  });

  it('the clean identities have no finding, and every row is listed', () => {
    const flagged = new Set(report.findings.map((f) => f.row));
    for (const clean of fx.clean) expect(flagged.has(clean)).toBe(false);
    for (const row of [...fx.clean, ...Object.values(fx.expected).flat()]) expect(report.rows.map((r) => r.key)).toContain(row);
  });

  it('the check can fail: with the report time a year later, the findings change', async () => {
    const later = (await inventory(args(['--now', new Date(NOW + 365 * 86_400_000).toISOString()]))).report;
    expect(later.findings.filter((f) => f.code === 'never_used').map((f) => f.row)).toContain('key:clean01');
    expect(later.findings.filter((f) => f.code === 'review_overdue').map((f) => f.row)).toContain('key:clean01');
  });

  it('reports use against grants: models, providers, tools offered and called, tokens, denies by reason', () => {
    const clean = report.rows.find((r) => r.key === 'key:clean01');
    expect(clean).toMatchObject({
      owner: 'team-a',
      approvedBy: 'alice',
      reviewBy: '2026-12-31T00:00:00Z',
      state: 'active',
      modelsUsed: ['gpt-4o-mini'],
      modelsGranted: ['gpt-4o-mini'],
      providersUsed: ['openai'],
      providersGranted: ['openai'],
      toolsOffered: ['search'],
      toolsGranted: ['search'],
      toolsCalled: ['search'],
      inputTokens: 121,
      outputTokens: 32,
      outcomes: 2,
      denied: 1,
      deniedBy: { model_not_allowed: 1 },
    });
    expect(clean?.allowed).toBe(3);
    expect(report.rows.find((r) => r.key === 'key:gone01')).toMatchObject({ state: 'revoked', allowed: 1, deniedBy: { revoked_credentials: 1 } });
    expect(report.rows.find((r) => r.key === 'rule:contractors')).toMatchObject({
      kind: 'rule',
      callers: ['spiffe://prod.test/ns/contractors/sa/vendor'],
      deniedBy: { revoked_identity: 1 },
    });
    expect(report.rows.find((r) => r.key === 'key:broad01')?.modelsGranted).toEqual(['gpt-4o-mini', 'claude-*']);
    // db_* was offered (db_query), claude-* never asked for.
    expect(report.findings.find((f) => f.code === 'scope_broader_than_use')?.detail).toBe('models never used: claude-*');
    expect(report.unattributed).toEqual({ byReason: { no_credentials: 1 }, unjoinedOutcomes: 1, overflowCallerDecisions: 0 });
  });
});

describe('inventory input: counted, never a crash', () => {
  it('reads plain and gzip files oldest first, counts a cut-off gzip, malformed lines, unknown and wrong-typed fields', () => {
    const i = report.input;
    const byName = Object.fromEntries(i.files.map((f) => [path.basename(f.path), f]));
    expect(byName['decisions.log.1.gz']).toMatchObject({ gzip: true, truncated: false, decisions: 3, beforeWindow: 1 });
    expect(byName['decisions.log.2.gz']).toMatchObject({ gzip: true, truncated: true });
    expect(byName['decisions.log.2.gz']?.lines).toBeGreaterThanOrEqual(1);
    expect(byName['decisions.log']).toMatchObject({ gzip: false, truncated: false, malformed: 5 });
    // The cut-off gzip's last line may be cut too (then it is not JSON).
    expect(i.malformed).toEqual({ not_json: 2 + (byName['decisions.log.2.gz']?.malformed ?? 0), not_an_object: 1, unknown_kind: 1, missing_field: 1 });
    expect(i.truncatedFiles).toBe(1);
    expect(i.invalidFields).toBe(1);
    // Names that look like attribute names are listed; the rest only counted.
    expect(i.unknownFields).toEqual({ authorization: 1, 'llm.tool_arguments': 1, prompt: 1 });
    expect(i.otherUnknownFields).toBe(1);
  });

  it('a missing input, an unreadable file and a corrupt gzip are reported, and the rest is read', async () => {
    const dir = tempDir('inv');
    const good = path.join(dir, 'good.log');
    writeFileSync(good, `${JSON.stringify({ time: new Date(NOW - 1000).toISOString(), 'decision.id': 'a', 'decision.effect': 'deny', 'decision.reason': 'no_credentials' })}\n`);
    const corrupt = path.join(dir, 'corrupt.gz');
    writeFileSync(corrupt, Buffer.concat([Buffer.from([0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 3]), Buffer.from('definitely not deflate data')]));
    const r = await runInventory({
      entitlements: loadEntitlements(fx.config),
      decisions: [good, corrupt, path.join(dir, 'missing.log'), dir],
      nowMs: NOW,
      sinceMs: 86_400_000,
      thresholds: { unusedForMs: 1, expiringWithinMs: 1 },
    });
    expect(r.input.missing).toEqual([{ path: path.join(dir, 'missing.log'), error: 'ENOENT' }]);
    expect(r.input.files.find((f) => f.path === corrupt)).toMatchObject({ gzip: true, error: 'Z_DATA_ERROR' });
    expect(r.input.decisions).toBe(1); // good.log once, though named twice (file and folder)
    expect(r.unattributed.byReason).toEqual({ no_credentials: 1 });
  });

  it('skips a line longer than the limit without gathering it, and keeps reading', async () => {
    const dir = tempDir('inv');
    const file = path.join(dir, 'big.log');
    const ok = JSON.stringify({ time: new Date(NOW).toISOString(), 'decision.id': 'a', 'decision.effect': 'deny', 'decision.reason': 'no_credentials' });
    writeFileSync(file, `${ok}\n${'x'.repeat(MAX_LINE_BYTES + 10)}\n${ok}\n${'y'.repeat(MAX_LINE_BYTES * 3)}`);
    const seen: number[] = [];
    const stats = await readLogFile(file, (_line, n) => seen.push(n));
    expect(seen).toEqual([1, 3]);
    expect(stats).toMatchObject({ lines: 4, oversized: 2, truncated: false, error: undefined });
  });

  it('a line cut in two by a chunk boundary, CRLF endings and a last line without newline are read whole', async () => {
    const dir = tempDir('inv');
    const file = path.join(dir, 'chunks.log.gz');
    const line = (i: number): string =>
      JSON.stringify({ time: new Date(NOW).toISOString(), 'decision.id': `id-${i}`, 'decision.effect': 'deny', 'decision.reason': 'no_credentials', pad: 'p'.repeat(700) });
    const text = Array.from({ length: 3000 }, (_, i) => line(i)).join('\r\n');
    writeFileSync(file, gzipSync(text));
    const ids: string[] = [];
    await readLogFile(file, (l) => {
      const r = parseLogLine(l.replace(/\r$/, ''));
      if (r.ok) ids.push(r.event.decisionId);
    });
    expect(ids).toHaveLength(3000);
    expect(ids[2999]).toBe('id-2999');
  });

  it('the known decision fields are exactly those the audit record writes (no drift)', () => {
    const rt = { ctx: ctxOf({ headers: { 'x-request-id': 'r' }, principal: 'spiffe://a/b' }) };
    const full = auditRecord({
      decisionId: 'x',
      effect: 'deny',
      reason: 'denied_by_policy',
      phase: 'policy',
      ctx: rt.ctx,
      durationMs: 1,
      policyVersion: 'v',
      rule: 'r',
      matchedRules: ['r'],
      provider: { name: 'openai-team', profile: { system: 'openai' } },
      identity: {
        method: 'api_key',
        workload: 'w',
        agent: 'a',
        user: 'u',
        issuer: 'i',
        credentialId: 'c',
        scopes: { models: undefined, providers: undefined },
        entitlement: { source: 'api_key', id: 'c', owner: 'o', approvedBy: undefined, approvedAtMs: undefined, reviewByMs: 1, reviewOverdue: true },
      },
      llm: {
        api: 'openai',
        schema: 'openai.chat_completions',
        operation: 'chat',
        provider: undefined,
        model: 'm',
        stream: false,
        maxTokens: 1,
        temperature: 0.5,
        tools: ['t'],
        toolChoice: 'auto',
        endUser: 'e',
        messageCount: 1,
        inputBytes: 1,
        bodyComplete: true,
        storedContext: ['prompt'],
        pathParams: {},
      },
      shadow: { effect: 'allow', reason: 'allowed', rule: 'r', policyVersion: 'v', disagrees: true },
    });
    const written = Object.keys(full);
    expect(written.filter((k) => !DECISION_FIELDS.has(k))).toEqual([]);
    const lineOnly = ['time', 'kind', 'trace_id', 'span_id'];
    expect([...DECISION_FIELDS].filter((k) => !written.includes(k) && !lineOnly.includes(k))).toEqual([]);
  });
});

describe('inventory reports', () => {
  const formats = ['md', 'json', 'csv', 'html'] as const;

  it.each(formats)('the %s report carries no planted secret, and names the findings', async (format) => {
    const { text } = await inventory(args(['--format', format]));
    for (const s of PLANTED_SECRETS) expect(text).not.toContain(s);
    // The check can fail: the raw log does hold them.
    const raw = readFileSync(path.join(fx.logs, 'decisions.log'), 'utf8');
    for (const s of PLANTED_SECRETS.slice(0, 3)) expect(raw).toContain(s);
    expect(text).toContain('noowner01');
    expect(text).toContain(format === 'csv' ? 'no_owner' : format === 'json' ? '"code": "no_owner"' : 'No owner');
  });

  it('Markdown: findings first, then the rows, then what was read', async () => {
    const { text } = await inventory(args(['--format', 'md']));
    const order = ['## Findings', '## Entitlements and use', '## Read'].map((h) => text.indexOf(h));
    expect(order.every((x, i) => x > 0 && (i === 0 || x > (order[i - 1] ?? 0)))).toBe(true);
    expect(text).toMatch(/\| Never used \| key never01 \(wl-never\) \| team-a \| no allowed request in the window \|/);
    expect(text).toMatch(/\| Review overdue \| key review01 \(wl-review\) \| team-b \| review was due 2026-03-15 00:00Z \|/);
  });

  it('HTML: self-contained, escaped, findings before the tables', async () => {
    const dir = tempDir('inv');
    mkdirSync(path.join(dir, 'logs'));
    const hostileName = '<script>alert(1)</script><img src=x onerror=alert(2)>';
    writeFileSync(
      path.join(dir, 'logs', 'd.log'),
      `${JSON.stringify({ time: new Date(NOW - 1000).toISOString(), 'decision.id': 'a', 'decision.effect': 'allow', 'decision.reason': 'allowed', 'identity.method': 'jwt', 'identity.workload': hostileName, 'identity.issuer': 'https://x" onmouseover="alert(3)' })}\n`,
    );
    const { text } = await inventory(parseInventoryArgs(['--config', fx.config, '--decisions', path.join(dir, 'logs'), '--now', new Date(NOW).toISOString(), '--format', 'html']));
    expect(text).not.toContain('<script>alert');
    expect(text).not.toContain('<img');
    expect(text).not.toContain('" onmouseover');
    expect(text).toContain('&lt;script&gt;alert(1)&lt;/script&gt;');
    expect(text.match(/<script>/g)).toHaveLength(1);
    // No external asset: nothing is loaded from a URL.
    const tags = [...text.matchAll(/<[a-zA-Z][^>]*>/g)].map((m) => m[0]);
    expect(tags.length).toBeGreaterThan(50);
    expect(tags.map((t) => t.replace(/"[^"]*"/g, '""')).filter((t) => /\s(src|href|srcset|data|action)\s*=/i.test(t))).toEqual([]);
    expect(text).not.toMatch(/url\(|@import/i);
    expect(text.replaceAll('https://x', '')).not.toMatch(/https?:\/\//i);
    expect(text).toMatch(/Content-Security-Policy" content="default-src 'none'/);
    expect(text.indexOf('id="findings"')).toBeLessThan(text.indexOf('id="entitlements"'));
  });

  it('CSV: one row per identity with its findings; formula-looking cells are defused', async () => {
    const { text } = await inventory(args(['--format', 'csv']));
    const lines = text.trimEnd().split('\r\n');
    expect(lines[0]?.startsWith('identity,kind,method,workload')).toBe(true);
    expect(lines).toHaveLength(report.rows.length + 1);
    expect(lines.find((l) => l.startsWith('key never01'))).toMatch(/,never_used$/);
    expect(csvCell('=HYPERLINK("http://x")')).toBe(`"'=HYPERLINK(""http://x"")"`);
    expect(csvCell('-1+1')).toBe("'-1+1");
    expect(csvCell('a,b')).toBe('"a,b"');
  });

  it('refuses bad usage with a clear message', () => {
    expect(() => parseInventoryArgs([])).toThrow(/--config FILE is required/);
    expect(() => parseInventoryArgs(['--config', 'x', '--format', 'pdf'])).toThrow(/--format: expected md, json, csv or html/);
    expect(() => parseInventoryArgs(['--config', 'x', '--since', 'a month'])).toThrow(/--since: not a duration/);
    expect(() => parseInventoryArgs(['--config', 'x', '--now', 'soon'])).toThrow(/--now/);
  });
});

describe('inventory memory bounds', () => {
  it('joins an outcome to its decision only within the join window (the oldest ids are dropped)', async () => {
    const dir = tempDir('inv');
    const file = path.join(dir, 'd.log');
    const lines: string[] = [];
    const t = new Date(NOW - 1000).toISOString();
    for (let i = 0; i < 20; i++)
      lines.push(
        JSON.stringify({
          time: t,
          'decision.id': `d${i}`,
          'decision.effect': 'allow',
          'decision.reason': 'allowed',
          'identity.method': 'api_key',
          'identity.workload': 'wl-clean',
          'identity.credential_id': 'clean01',
        }),
      );
    for (const i of [0, 9, 10, 19]) lines.push(JSON.stringify({ kind: 'outcome', time: t, 'decision.id': `d${i}`, 'gen_ai.usage.output_tokens': 1 }));
    writeFileSync(file, `${lines.join('\n')}\n`);
    const r = await runInventory({
      entitlements: loadEntitlements(fx.config),
      decisions: [file],
      nowMs: NOW,
      sinceMs: 86_400_000,
      thresholds: { unusedForMs: 86_400_000, expiringWithinMs: 1 },
      joinWindow: 10,
    });
    expect(r.rows.find((x) => x.key === 'key:clean01')).toMatchObject({ outcomes: 2, outputTokens: 2 });
    expect(r.unattributed.unjoinedOutcomes).toBe(2);
  });
});

describe('the provider a decision line names', () => {
  const line = (fields: Record<string, unknown>): string =>
    JSON.stringify({ time: '2026-03-01T00:00:00Z', 'decision.id': 'd', 'decision.effect': 'allow', 'decision.reason': 'allowed', ...fields });
  const provider = (fields: Record<string, unknown>): string | undefined => {
    const r = parseLogLine(line(fields));
    return r.ok && r.event.kind === 'decision' ? r.event.provider : 'not parsed';
  };
  it('is the configured provider (llm.provider, what key scopes grant), not the provider system', () => {
    expect(provider({ 'gen_ai.provider.name': 'aws.bedrock', 'llm.provider': 'bedrock-prod' })).toBe('bedrock-prod');
  });
  it('a line written before llm.provider existed had the configured name in gen_ai.provider.name', () => {
    expect(provider({ 'gen_ai.provider.name': 'openai-team' })).toBe('openai-team');
  });
});
