/**
 * The key store and revocation list files, and the watch loop that re-reads them: what each
 * kind of bad file says (exactly), that a duplicate key id is refused, that both files are
 * written owner-only, and the reload loop itself (an unchanged file is not re-read, a rejected
 * change keeps the last good state and is reported, a repeated problem is logged once, close
 * stops it, the timer never holds the process open). Cases no unit test decided.
 */
import { readFileSync, statSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { Writable } from 'node:stream';
import { MeterProvider, type MetricReader, type ResourceMetrics } from '@opentelemetry/sdk-metrics';
import pino from 'pino';
import { afterEach, beforeAll, beforeEach, describe, expect, it, vi } from 'vitest';
import type { KeyStoreReloadEvent } from '../../src/core/build-context.ts';
import { hashApiKey } from '../../src/identity/api-key.ts';
import { openKeyStore, readKeyStoreFile, writeKeyStoreFile } from '../../src/identity/key-store.ts';
import { setIdentityLogger } from '../../src/identity/log.ts';
import { openRevocationList, readRevocationFile, writeRevocationFile } from '../../src/identity/revocation-list.ts';
import { watchFile } from '../../src/identity/watched-file.ts';
import { installMeter } from '../../src/telemetry/metrics.ts';
import { tempDir } from '../helpers/access.ts';
import { TestReader } from '../helpers/otel-metrics.ts';

const INTERVAL = 100;

const storedKey = (id: string, extra: Record<string, unknown> = {}) => ({
  id,
  hash: hashApiKey(`lla_${id}_0123456789abcdef0123`),
  workload: `spiffe://good.test/${id}`,
  models: ['*'],
  created_at: '2026-01-01T00:00:00Z',
  ...extra,
});
const storeText = (...ids: string[]): string => `${JSON.stringify({ version: 1, keys: ids.map((id) => storedKey(id)) })}\n`;
const listText = (...workloads: string[]): string =>
  `${JSON.stringify({ version: 1, revoked: workloads.map((workload) => ({ workload, revoked_at: '2026-01-01T00:00:00Z' })) })}\n`;

/** The identity log's lines, as parsed JSON. */
function captureLog(): () => Record<string, unknown>[] {
  let buf = '';
  const out = new Writable({
    write(chunk: Buffer, _enc, cb) {
      buf += chunk.toString();
      cb();
    },
  });
  setIdentityLogger(pino({ level: 'info' }, out));
  return () =>
    buf
      .split('\n')
      .filter(Boolean)
      .map((l) => JSON.parse(l) as Record<string, unknown>);
}

const thrown = (f: () => unknown): Error => {
  try {
    f();
  } catch (err) {
    return err as Error;
  }
  throw new Error('nothing thrown');
};

describe('reading the key store file', () => {
  it('names the problem of each kind of bad file exactly (JSON, schema, duplicate id)', () => {
    const dir = tempDir('store-read');
    const file = path.join(dir, 'keys.json');
    writeFileSync(file, '{"version": 1, "keys": [');
    const notJson = thrown(() => readKeyStoreFile(file));
    expect({ name: notJson.name, message: notJson.message }).toEqual({ name: 'KeyStoreError', message: `key store ${file}: not valid JSON` });
    writeFileSync(file, JSON.stringify({ version: 1, keys: [storedKey('key1', { hash: 'md5:00' })] }));
    expect(thrown(() => readKeyStoreFile(file)).message).toBe(`key store ${file}: keys.0.hash: expected sha256:<64 lowercase hex digits>`);
    writeFileSync(file, JSON.stringify({ version: 1, keys: [storedKey('key1'), storedKey('key2'), storedKey('key1')] }));
    expect(thrown(() => readKeyStoreFile(file)).message).toBe(`key store ${file}: duplicate key id 'key1'`);
    writeFileSync(file, storeText('key1', 'key2'));
    expect(readKeyStoreFile(file).keys.map((k) => k.id)).toEqual(['key1', 'key2']);
  });

  it('parses expires_at once, at load; a key without one has no expiry', () => {
    const dir = tempDir('store-expiry');
    const file = path.join(dir, 'keys.json');
    writeFileSync(file, JSON.stringify({ version: 1, keys: [storedKey('key1'), storedKey('key2', { expires_at: '2026-03-01T12:00:00Z' })] }));
    const store = openKeyStore(file, INTERVAL);
    expect(store.get('key1')?.expiresAtMs).toBeUndefined();
    expect(store.get('key2')?.expiresAtMs).toBe(Date.parse('2026-03-01T12:00:00Z'));
    store.close();
  });
});

describe('reading the revocation list file', () => {
  it('names the problem of each kind of bad file exactly (JSON, schema)', () => {
    const dir = tempDir('list-read');
    const file = path.join(dir, 'revoked.json');
    writeFileSync(file, 'revoked: []');
    const notJson = thrown(() => readRevocationFile(file));
    expect({ name: notJson.name, message: notJson.message }).toEqual({ name: 'RevocationListError', message: `revocation list ${file}: not valid JSON` });
    writeFileSync(file, JSON.stringify({ version: 1, revoked: [{ workload: 'a', agent: 'b', revoked_at: '2026-01-01T00:00:00Z' }] }));
    expect(thrown(() => readRevocationFile(file)).message).toBe(`revocation list ${file}: revoked.0: expected exactly one of workload, agent, spiffe_id, or issuer with subject`);
  });
});

describe('writing the state files', () => {
  it('writes the key store and the revocation list readable by the owner only', () => {
    const dir = tempDir('state-write');
    const keys = path.join(dir, 'keys.json');
    const list = path.join(dir, 'revoked.json');
    writeKeyStoreFile(keys, readKeyStoreFileFrom(dir, storeText('key1')));
    writeRevocationFile(list, { version: 1, revoked: [{ workload: 'w', revoked_at: '2026-01-01T00:00:00Z' }] });
    expect(statSync(keys).mode & 0o777).toBe(0o600);
    expect(statSync(list).mode & 0o777).toBe(0o600);
    expect(readKeyStoreFile(keys).keys[0]?.id).toBe('key1');
    expect(readRevocationFile(list).revoked[0]?.workload).toBe('w');
  });
});

function readKeyStoreFileFrom(dir: string, text: string) {
  const f = path.join(dir, 'source.json');
  writeFileSync(f, text);
  return readKeyStoreFile(f);
}

describe('the watch loop', () => {
  beforeEach(() => {
    vi.useFakeTimers({ toFake: ['setInterval', 'clearInterval'] });
  });
  afterEach(() => {
    vi.useRealTimers();
  });

  it('re-reads only a changed file; a rejected change keeps the last good value and says whether the problem repeats', () => {
    const file = path.join(tempDir('watch'), 'state.txt');
    writeFileSync(file, 'one');
    let reads = 0;
    const read = (f: string): string => {
      reads++;
      const text = readFileSync(f, 'utf8');
      if (text.startsWith('bad')) throw new Error(text.slice(0, 4));
      return text;
    };
    const events: unknown[] = [];
    const w = watchFile(file, INTERVAL, read, (err) => (err as Error).message, {
      reloaded: (value, generation) => events.push(['reloaded', value, generation]),
      failed: (problem, generation, repeated) => events.push(['failed', problem, generation, repeated]),
    });
    expect([w.current(), w.generation, reads]).toEqual(['one', 1, 1]);
    vi.advanceTimersByTime(INTERVAL * 5);
    expect(reads).toBe(1);
    expect(events).toEqual([]);

    const step = (text: string) => {
      writeFileSync(file, text);
      vi.advanceTimersByTime(INTERVAL);
    };
    step('two!');
    step('bad1-');
    step('bad1 again');
    step('bad2');
    expect(w.current()).toBe('two!');
    step('three');
    step('bad2 once more');
    expect(events).toEqual([
      ['reloaded', 'two!', 2],
      ['failed', 'bad1', 2, false],
      ['failed', 'bad1', 2, true],
      ['failed', 'bad2', 2, false],
      ['reloaded', 'three', 3],
      ['failed', 'bad2', 3, false],
    ]);
    expect([w.current(), w.generation]).toEqual(['three', 3]);

    w.close();
    step('four, after close');
    expect(w.current()).toBe('three');
    expect(events).toHaveLength(6);
  });
});

describe('the watch timer', () => {
  it('never holds the process open', () => {
    const file = path.join(tempDir('watch-ref'), 'state.txt');
    writeFileSync(file, 'x');
    const timers = (): number => process.getActiveResourcesInfo().filter((r) => r === 'Timeout').length;
    const before = timers();
    const w = watchFile(file, INTERVAL, () => 'x', String, { reloaded: () => undefined, failed: () => undefined });
    expect(timers()).toBe(before);
    w.close();
  });
});

/** llm_authz.state.reloads by outcome, for one state. */
async function reloads(reader: MetricReader, state: string): Promise<Record<string, number>> {
  const { resourceMetrics } = await reader.collect();
  const out: Record<string, number> = {};
  for (const sm of (resourceMetrics as ResourceMetrics).scopeMetrics) {
    for (const m of sm.metrics) {
      if (m.descriptor.name !== 'llm_authz.state.reloads') continue;
      for (const dp of m.dataPoints as { attributes: Record<string, unknown>; value: number }[]) {
        if (dp.attributes['state'] === state) out[String(dp.attributes['outcome'])] = dp.value;
      }
    }
  }
  return out;
}

describe('key store and revocation list reloads: log, listener, metrics, generation', () => {
  const reader = new TestReader();
  beforeAll(() => {
    installMeter(new MeterProvider({ readers: [reader] }).getMeter('state-files'));
  });
  beforeEach(() => {
    vi.useFakeTimers({ toFake: ['setInterval', 'clearInterval'] });
  });
  afterEach(() => {
    vi.useRealTimers();
  });

  it('the key store logs its load and each reload, logs a repeated failure once, and tells the listener and the metrics each time', async () => {
    const lines = captureLog();
    const file = path.join(tempDir('store-reload'), 'keys.json');
    writeFileSync(file, storeText('key1'));
    const events: KeyStoreReloadEvent[] = [];
    const store = openKeyStore(file, INTERVAL, (e) => events.push(e));
    const step = (text: string) => {
      writeFileSync(file, text);
      vi.advanceTimersByTime(INTERVAL);
    };
    step(storeText('key1', 'key2'));
    step('{"version": 1');
    step('{"version": 1 ');
    step('{"version": 2, "keys": []}');
    expect([store.generation, store.size, store.get('key2')?.id]).toEqual([2, 2, 'key2']);
    const problem = `key store ${file}: not valid JSON`;
    const schema = `key store ${file}: version: Invalid input: expected 1`;
    expect(events).toEqual([
      { file, outcome: 'reloaded' },
      { file, outcome: 'kept_last_good', problem },
      { file, outcome: 'kept_last_good', problem },
      { file, outcome: 'kept_last_good', problem: schema },
    ]);
    expect(await reloads(reader, 'key_store')).toEqual({ ok: 1, failed: 3 });
    const logged = lines().map(({ level, msg, key_store, keys, problem, generation }) => ({ level, msg, key_store, keys, problem, generation }));
    expect(logged).toEqual([
      { level: 30, msg: 'key store loaded', key_store: file, keys: 1, problem: undefined, generation: 1 },
      { level: 30, msg: 'key store reloaded', key_store: file, keys: 2, problem: undefined, generation: 2 },
      { level: 40, msg: 'key store not reloaded; keeping the last good one', key_store: file, keys: undefined, problem, generation: 2 },
      { level: 40, msg: 'key store not reloaded; keeping the last good one', key_store: file, keys: undefined, problem: schema, generation: 2 },
    ]);
    store.close();
    step(storeText('key1', 'key2', 'key3'));
    expect([store.generation, store.size]).toEqual([2, 2]);
  });

  it('the revocation list logs its load and each reload, logs a repeated failure once, and tells the listener and the metrics each time', async () => {
    const lines = captureLog();
    const file = path.join(tempDir('list-reload'), 'revoked.json');
    writeFileSync(file, listText('w1'));
    const events: KeyStoreReloadEvent[] = [];
    const list = openRevocationList(file, INTERVAL, (e) => events.push(e));
    const step = (text: string) => {
      writeFileSync(file, text);
      vi.advanceTimersByTime(INTERVAL);
    };
    step(listText('w1', 'w2'));
    step('[');
    step('[ ');
    step('{"version": 2, "revoked": []}');
    expect([list.generation, list.current().size]).toEqual([2, 2]);
    const problem = `revocation list ${file}: not valid JSON`;
    const schema = `revocation list ${file}: version: Invalid input: expected 1`;
    expect(events).toEqual([
      { file, outcome: 'reloaded' },
      { file, outcome: 'kept_last_good', problem },
      { file, outcome: 'kept_last_good', problem },
      { file, outcome: 'kept_last_good', problem: schema },
    ]);
    expect(await reloads(reader, 'revocation_list')).toEqual({ ok: 1, failed: 3 });
    const logged = lines().map(({ level, msg, revocation_list, entries, problem, generation }) => ({ level, msg, revocation_list, entries, problem, generation }));
    expect(logged).toEqual([
      { level: 30, msg: 'revocation list loaded', revocation_list: file, entries: 1, problem: undefined, generation: 1 },
      { level: 30, msg: 'revocation list reloaded', revocation_list: file, entries: 2, problem: undefined, generation: 2 },
      { level: 40, msg: 'revocation list not reloaded; keeping the last good one', revocation_list: file, entries: undefined, problem, generation: 2 },
      { level: 40, msg: 'revocation list not reloaded; keeping the last good one', revocation_list: file, entries: undefined, problem: schema, generation: 2 },
    ]);
    list.close();
  });
});
