/**
 * The dev stack's mock providers keep a bounded record of what they saw: every request counts,
 * the last `keep` stay readable with absolute indices (a mark taken as `length` stays valid), and
 * reading a dropped one throws instead of answering with less.
 */
import { describe, expect, it } from 'vitest';
import { startMockProvider } from '../../devstack/mock-provider.ts';
import { RecordLog } from '../../devstack/record-log.ts';

describe('RecordLog', () => {
  it('counts every record, keeps the last ones, and reads by absolute index', () => {
    const log = new RecordLog<number>(8);
    for (let i = 0; i < 100; i++) log.push(i);
    expect(log.length).toBe(100);
    expect(log.kept).toBeGreaterThanOrEqual(8);
    expect(log.kept).toBeLessThanOrEqual(10);
    expect(log.at(-1)).toBe(99);
    expect(log.at(95)).toBe(95);
    expect(log.at(100)).toBeUndefined();
    expect(log.slice(92)).toEqual([92, 93, 94, 95, 96, 97, 98, 99]);
    expect(log.slice(92, 94)).toEqual([92, 93]);
    expect(log.slice(100)).toEqual([]);
    expect(log.filter((v) => v % 2 === 1).at(-1)).toBe(99);
    expect(log.find((v) => v > 97)).toBe(98);
    expect(JSON.stringify(log)).toBe(JSON.stringify([...log]));
  });

  it('a dropped record is an error, never a shorter answer', () => {
    const log = new RecordLog<number>(8);
    for (let i = 0; i < 100; i++) log.push(i);
    expect(() => log.slice(0)).toThrow(/record 0 was dropped/);
    expect(() => log.at(3)).toThrow(/dropped/);
  });

  it('below the bound, nothing is dropped', () => {
    const log = new RecordLog<number>();
    for (let i = 0; i < 5000; i++) log.push(i);
    expect(log.kept).toBe(5000);
    expect(log.slice(0)).toHaveLength(5000);
  });
});

describe('a mock provider', () => {
  it('counts every request it answered and keeps only the last `keep` requests and responses', async () => {
    const mock = await startMockProvider('openai', '127.0.0.1', undefined, undefined, { keep: 10 });
    try {
      const body = JSON.stringify({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'hi' }] });
      for (let i = 0; i < 40; i++) {
        const res = await fetch(`${mock.url}/v1/chat/completions`, { method: 'POST', headers: { 'content-type': 'application/json', 'x-n': String(i) }, body });
        expect(res.status).toBe(200);
        await res.arrayBuffer();
      }
      expect(mock.requests.length).toBe(40);
      expect(mock.started()).toBe(40);
      expect([...mock.requests].length).toBeLessThanOrEqual(13);
      expect(mock.requests.at(-1)?.headers['x-n']).toBe('39');
      expect(mock.requests.slice(35).map((r) => r.headers['x-n'])).toEqual(['35', '36', '37', '38', '39']);
      await expect.poll(() => mock.responses.length).toBe(40);
      expect([...mock.responses].length).toBeLessThanOrEqual(13);
    } finally {
      await mock.close();
    }
  });
});
