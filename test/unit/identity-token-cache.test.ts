/**
 * The verified-token cache on its own: at most `cache_entries` entries, evicted oldest first with a
 * second chance (a read marks an entry, and eviction passes over a marked entry once; a re-store
 * makes an entry the newest), nothing kept when the bound is 0, an entry gone from its expiry on or
 * when its key-set generation changed.
 */
import { describe, expect, it } from 'vitest';
import { TokenCache } from '../../src/identity/token-cache.ts';

const entry = (value: string, expiresAt = 10_000, generation = 1) => ({ value, expiresAt, generation });
const gen1 = (): number => 1;

describe('the verified-token cache', () => {
  it('holds at most its bound: the least recently stored entry goes first', () => {
    const c = new TokenCache<string>(2);
    c.set('a', entry('A'));
    c.set('b', entry('B'));
    expect(c.size).toBe(2);
    c.set('c', entry('C'));
    expect(c.size).toBe(2);
    expect([c.get('a', 0, gen1), c.get('b', 0, gen1), c.get('c', 0, gen1)]).toEqual([undefined, 'B', 'C']);
  });

  it('a read gives an entry a second chance: passed over by the next eviction, evicted by a later one if not read again', () => {
    const c = new TokenCache<string>(2);
    c.set('a', entry('A'));
    c.set('b', entry('B'));
    expect(c.get('a', 0, gen1)).toBe('A');
    c.set('c', entry('C')); // a passed over (unmarked, moved last), b evicted
    expect(c.size).toBe(2);
    expect(c.get('b', 0, gen1)).toBeUndefined();
    c.set('d', entry('D')); // a, not read again, is now the oldest: evicted
    expect(c.get('a', 0, gen1)).toBeUndefined();
    expect([c.get('c', 0, gen1), c.get('d', 0, gen1)]).toEqual(['C', 'D']); // both marked
    c.set('e', entry('E')); // c and d each passed over once, then c, the oldest, goes; never the new entry
    expect([c.get('c', 0, gen1), c.get('d', 0, gen1), c.get('e', 0, gen1)]).toEqual([undefined, 'D', 'E']);
  });

  it('a read makes an entry outlive one stored before it', () => {
    const c = new TokenCache<string>(2);
    c.set('a', entry('A'));
    c.set('b', entry('B'));
    expect(c.get('a', 0, gen1)).toBe('A');
    c.set('c', entry('C'));
    expect([c.get('a', 0, gen1), c.get('b', 0, gen1), c.get('c', 0, gen1)]).toEqual(['A', undefined, 'C']);
  });

  it('storing a key again makes it the most recently used and keeps one entry for it', () => {
    const c = new TokenCache<string>(2);
    c.set('a', entry('A'));
    c.set('b', entry('B'));
    c.set('a', entry('A2'));
    expect(c.size).toBe(2);
    c.set('c', entry('C'));
    expect([c.get('a', 0, gen1), c.get('b', 0, gen1), c.get('c', 0, gen1)]).toEqual(['A2', undefined, 'C']);
  });

  it('a bound of 0 keeps nothing', () => {
    const c = new TokenCache<string>(0);
    c.set('a', entry('A'));
    expect(c.size).toBe(0);
    expect(c.get('a', 0, gen1)).toBeUndefined();
  });

  it('an entry is gone from its expiry on, and removed when read then', () => {
    const c = new TokenCache<string>(4);
    c.set('a', entry('A', 10_000));
    expect(c.get('a', 9_999, gen1)).toBe('A');
    expect(c.get('a', 10_000, gen1)).toBeUndefined();
    expect(c.size).toBe(0);
  });

  it('an entry verified against another key-set generation is gone', () => {
    const c = new TokenCache<string>(4);
    c.set('a', entry('A', 10_000, 1));
    expect(c.get('a', 0, () => 2)).toBeUndefined();
    expect(c.size).toBe(0);
  });

  it('the key is a hash of the token: the same token, the same key; never the token itself', () => {
    const token = 'eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJ3bCJ9.c2ln';
    expect(TokenCache.keyOf(token)).toBe(TokenCache.keyOf(token));
    expect(TokenCache.keyOf(token)).not.toBe(TokenCache.keyOf(`${token}x`));
    expect(TokenCache.keyOf(token)).not.toContain('eyJ');
  });
});
