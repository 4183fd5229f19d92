/** The redaction function and the decision log. */
import { mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Writable } from 'node:stream';
import { describe, expect, it, vi } from 'vitest';
import { waitFor } from '../../devstack/ports.ts';
import { createDecisionLog, decisionLine, REOPEN_MS } from '../../src/audit/decision-log.ts';
import type { OutcomeRecord } from '../../src/audit/outcome.ts';
import type { AuditRecord } from '../../src/audit/record.ts';
import { auditRecord, type AuditInput } from '../../src/audit/record.ts';
import type { Identity } from '../../src/identity/types.ts';
import type { LlmRequest } from '../../src/llm/types.ts';
import { ctxOf, UNIT_KEY } from '../helpers/runtime.ts';

const PROMPT = 'confidential: merge with ACME on friday';

function input(over: Partial<AuditInput> = {}): AuditInput {
  const ctx = ctxOf({
    path: '/v1/chat/completions?api_key=QUERYSECRET123',
    headers: { authorization: `Bearer ${UNIT_KEY}`, 'content-type': 'application/json', 'x-request-id': 'rid-1', cookie: 'session=COOKIESECRET' },
    body: JSON.stringify({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: PROMPT }] }),
  });
  const identity = { method: 'api_key', workload: 'wl', credentialId: 'unit0001' } as unknown as Identity;
  const llm = {
    api: 'openai',
    schema: 'openai.chat',
    operation: 'chat',
    model: 'gpt-4o-mini',
    stream: false,
    maxTokens: 10,
    temperature: 0.2,
    tools: ['lookup'],
    toolChoice: 'tool:lookup',
    endUser: 'user-7',
    messageCount: 1,
    inputBytes: 100,
    bodyComplete: true,
    storedContext: [],
  } as unknown as LlmRequest;
  return {
    decisionId: 'd-1',
    effect: 'allow',
    reason: 'allowed',
    phase: 'policy',
    ctx,
    identity,
    llm,
    policyVersion: 'v1',
    rule: 'r1',
    matchedRules: ['r1'],
    provider: { name: 'openai', profile: { system: 'openai' } },
    durationMs: 1.23456,
    ...over,
  };
}

describe('auditRecord (the one redaction function)', () => {
  it('copies only allowlisted fields: no credential, header map, cookie, body or prompt', () => {
    const r = auditRecord(input());
    const text = JSON.stringify(r);
    for (const secret of [UNIT_KEY, PROMPT, 'COOKIESECRET', 'messages']) expect(text).not.toContain(secret);
    expect(r).toMatchObject({
      'decision.id': 'd-1',
      'decision.effect': 'allow',
      'decision.status': 200,
      'identity.credential_id': 'unit0001',
      'gen_ai.request.model': 'gpt-4o-mini',
      'gen_ai.request.max_tokens': 10,
      'gen_ai.request.temperature': 0.2,
      'llm.tools': ['lookup'],
    });
    for (const k of Object.keys(r)) expect(k).toMatch(/^(decision|http|url|client|source|identity|policy|gen_ai|llm)\./);
  });

  it('carries the tool choice, the end user and whether the whole body was read', () => {
    expect(auditRecord(input())).toMatchObject({ 'llm.tool_choice': 'tool:lookup', 'llm.end_user': 'user-7', 'llm.body_complete': true });
    const base = input().llm!;
    const partial = auditRecord(input({ llm: { ...base, toolChoice: undefined, endUser: undefined, temperature: undefined, bodyComplete: false } }));
    expect(partial).not.toHaveProperty('gen_ai.request.temperature');
    expect(partial['llm.body_complete']).toBe(false);
    expect(partial).not.toHaveProperty('llm.tool_choice');
    expect(partial).not.toHaveProperty('llm.end_user');
    expect(partial).not.toHaveProperty('llm.stored_context');
    expect(auditRecord(input({ llm: { ...base, storedContext: ['cachedContent'] } }))['llm.stored_context']).toEqual(['cachedContent']);
    const long = auditRecord(input({ llm: { ...base, endUser: 'u'.repeat(2000) } }));
    expect(String(long['llm.end_user']).length).toBeLessThanOrEqual(513);
  });

  it('keeps the path without query values', () => {
    const r = auditRecord(input());
    expect(r['url.path']).toBe('/v1/chat/completions');
    expect(JSON.stringify(r)).not.toContain('QUERYSECRET123');
  });

  it('keeps a key out of every string field: a key in the path, the model or a tool name loses its secret', () => {
    const base = input();
    const ctx = ctxOf({ path: `/v1/models/${UNIT_KEY}`, headers: { 'content-type': 'application/json' } });
    const llm = { ...base.llm, model: UNIT_KEY, tools: [`x-${UNIT_KEY}`] } as LlmRequest;
    const r = auditRecord({ ...base, ctx, llm });
    const secret = UNIT_KEY.slice(UNIT_KEY.lastIndexOf('_') + 1);
    expect(JSON.stringify(r)).not.toContain(secret);
    expect(r['url.path']).toBe('/v1/models/lla_unit0001_…');
    expect(r['gen_ai.request.model']).toBe('lla_unit0001_…');
  });
});

describe('decision log', () => {
  it('writes one JSON line per decision with trace_id and span_id', async () => {
    const file = path.join(mkdtempSync(path.join(os.tmpdir(), 'dlog-')), 'decisions.jsonl');
    const log = createDecisionLog(file);
    log.write(auditRecord(input()), { traceId: 'a'.repeat(32), spanId: 'b'.repeat(16) });
    await log.close();
    const lines = readFileSync(file, 'utf8').trim().split('\n');
    expect(lines).toHaveLength(1);
    expect(JSON.parse(lines[0]!)).toMatchObject({ 'decision.id': 'd-1', trace_id: 'a'.repeat(32), span_id: 'b'.repeat(16) });
  });

  it('writes the bytes of decisionLine: any text, any trace ids, an empty record, an outcome, a line longer than its buffer', async () => {
    const chunks: Buffer[] = [];
    const sink = new Writable({
      write(chunk: Buffer, _enc, cb) {
        chunks.push(chunk);
        cb();
      },
    });
    const wide = auditRecord(input({ llm: { ...input().llm!, endUser: 'é€😀"\\\n\u0001\ud800' } }));
    const huge = { 'decision.id': 'x'.repeat(200_000) } as unknown as AuditRecord;
    const cases: [AuditRecord | OutcomeRecord, { traceId: string; spanId: string } | undefined, 'decision' | 'outcome'][] = [
      [auditRecord(input()), { traceId: 'a'.repeat(32), spanId: 'b'.repeat(16) }, 'decision'],
      [wide, { traceId: 'not "hex" é', spanId: '' }, 'decision'],
      [{} as AuditRecord, undefined, 'decision'],
      [{} as AuditRecord, { traceId: 'c'.repeat(32), spanId: 'd'.repeat(16) }, 'outcome'],
      [huge, undefined, 'decision'],
      [{ 'decision.id': 'o-1', 'llm.response.bytes': 3 } as unknown as OutcomeRecord, { traceId: 'e'.repeat(32), spanId: 'f'.repeat(16) }, 'outcome'],
      [
        {
          b: 'x',
          '7': 1.5,
          'k"ey\\': -0,
          big: 1e21,
          nan: Number.NaN,
          inf: -Infinity,
          yes: true,
          no: false,
          none: null,
          gone: undefined,
          fn: () => 1,
          list: ['a"', 2, null, undefined, true, ['n'], { o: 1 }],
          nested: { when: new Date(0), u: undefined },
          lone: 'a\ud800b',
          pair: '😀',
        } as unknown as AuditRecord,
        { traceId: 't', spanId: 's' },
        'decision',
      ],
      [Object.assign(Object.create({ inherited: 'not written' }) as object, { own: 'written' }) as unknown as AuditRecord, { traceId: 't', spanId: 's' }, 'decision'],
    ];
    // Again, once the log has kept the members it saw, and past what it keeps: 300 values of one
    // key, 300 keys, a value at and past the 128 characters it keeps, members needing escapes.
    const many = Array.from({ length: 600 }, (_, i): (typeof cases)[number] => [
      { k: `v${i % 300}`, [`key${i % 300}`]: 'same', 'é"': 'ü"\\\n', at: 'x'.repeat(127 + (i % 3)), 'decision.effect': i % 2 ? 'allow' : 'deny' } as unknown as AuditRecord,
      undefined,
      'decision',
    ]);
    cases.push(...cases, ...many);
    vi.useFakeTimers({ now: new Date('2026-01-02T03:04:05.678Z') });
    try {
      const log = createDecisionLog(sink, { flushMs: 1000, maxBufferedBytes: 10_000_000 });
      for (const [record, trace, kind] of cases) {
        if (kind === 'outcome') log.writeOutcome(record as OutcomeRecord, trace);
        else log.write(record as AuditRecord, trace);
      }
      await log.close();
      const expected = cases.map(([record, trace, kind]) => decisionLine(record, trace, kind)).join('');
      expect(Buffer.concat(chunks).toString('utf8')).toBe(expected);
      // The long line grew the buffer past the 64 KiB that start a write: the later lines went in another.
      expect(chunks.length).toBeGreaterThan(1);
      expect(log.written).toBe(cases.length);
    } finally {
      vi.useRealTimers();
    }
  });

  it('hands the lines of a burst to the sink in one write, within flush_ms, and close() writes the rest', async () => {
    const chunks: string[] = [];
    const sink = new Writable({
      write(chunk: Buffer, _enc, cb) {
        chunks.push(chunk.toString());
        cb();
      },
    });
    // Fake timers: the flush is asserted at exactly flush_ms, whatever the machine's load.
    vi.useFakeTimers();
    try {
      const log = createDecisionLog(sink, { flushMs: 20 });
      for (let i = 0; i < 5; i++) {
        log.write(auditRecord(input()));
        vi.advanceTimersByTime(3);
      }
      // 15 ms after the first line: nothing written yet.
      expect(chunks).toHaveLength(0);
      vi.advanceTimersByTime(4);
      expect(chunks).toHaveLength(0);
      // 20 ms after the first line (not after the last): the five lines, in one write.
      vi.advanceTimersByTime(1);
      expect(chunks).toHaveLength(1);
      expect(chunks[0]!.trim().split('\n')).toHaveLength(5);
      // No timer is left running for an empty buffer.
      expect(vi.getTimerCount()).toBe(0);
      log.write(auditRecord(input()), { traceId: 'c'.repeat(32), spanId: 'd'.repeat(16) });
      expect(vi.getTimerCount()).toBe(1);
      await log.close();
      expect(vi.getTimerCount()).toBe(0);
      expect(chunks).toHaveLength(2);
      const last = JSON.parse(chunks[1]!) as Record<string, unknown>;
      expect(Object.keys(last)[0]).toBe('time');
      expect(last).toMatchObject({ 'decision.id': 'd-1', trace_id: 'c'.repeat(32), span_id: 'd'.repeat(16) });
      expect(log.written).toBe(6);
    } finally {
      vi.useRealTimers();
    }
  });

  it('counts gathered lines as dropped when the sink fails before they are written', async () => {
    const sink = new Writable({
      write(_chunk, _enc, cb) {
        cb();
      },
    });
    const log = createDecisionLog(sink, { flushMs: 10_000 });
    log.write(auditRecord(input()));
    log.write(auditRecord(input()));
    expect(log.written).toBe(2);
    sink.destroy(new Error('EIO'));
    await new Promise((r) => setImmediate(r));
    await log.close();
    expect(log.written).toBe(0);
    expect(log.dropped).toBe(2);
  });

  it('drops and counts (never blocks) when the sink falls behind its buffer bound', () => {
    // A sink that never drains: the buffer bound is what keeps memory in check.
    const stuck = new Writable({ highWaterMark: 1, write() {} });
    const log = createDecisionLog(stuck, { maxBufferedBytes: 2_000 });
    for (let i = 0; i < 100; i++) log.write(auditRecord(input()));
    expect(log.written).toBeGreaterThan(0);
    expect(log.dropped).toBeGreaterThan(0);
    expect(log.written + log.dropped).toBe(100);
  });

  it('keeps going when the sink fails: lines are dropped and counted, nothing throws', async () => {
    const broken = new Writable({
      write(_chunk, _enc, cb) {
        cb(new Error('EIO'));
      },
    });
    const log = createDecisionLog(broken, { flushMs: 0 });
    log.write(auditRecord(input()));
    await new Promise((r) => setImmediate(r));
    for (let i = 0; i < 10; i++) expect(() => log.write(auditRecord(input()))).not.toThrow();
    // the line the sink failed is counted too, with the ten after it
    expect(log.dropped).toBe(11);
    expect(log.written).toBe(0);
  });

  it('a full disk (/dev/full: every write fails with ENOSPC): every line is counted as dropped', async () => {
    const log = createDecisionLog('/dev/full', { flushMs: 0 });
    for (let i = 0; i < 5; i++) log.write(auditRecord(input()));
    // The failed write is reported asynchronously: wait for it to be counted (a count, not a sleep).
    await waitFor('the failed write counted', () => (log.dropped >= 5 ? true : undefined), 10_000, 5);
    for (let i = 0; i < 5; i++) log.write(auditRecord(input()));
    expect(log.written + log.dropped).toBe(10);
    expect(log.dropped).toBe(10);
    await log.close();
  });

  it('a file sink that failed is opened again, and the log resumes', async () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'llm-authz-sink-'));
    const file = path.join(dir, 'decisions.jsonl');
    mkdirSync(file); // a folder where the file should be: opening it fails (EISDIR)
    const log = createDecisionLog(file, { flushMs: 0 });
    log.write(auditRecord(input()));
    // The open fails asynchronously: wait for the drop to be counted (a count, not a sleep).
    await waitFor('the failed open counted as a drop', () => (log.dropped > 0 ? true : undefined), 10_000, 5);
    expect(log.dropped).toBe(1);
    rmSync(file, { recursive: true });
    await new Promise((r) => setTimeout(r, REOPEN_MS + 200));
    log.write(auditRecord(input()));
    await log.close();
    expect(log.written).toBe(1);
    expect(readFileSync(file, 'utf8').split('\n').filter(Boolean)).toHaveLength(1);
    rmSync(dir, { recursive: true, force: true });
  });
});
