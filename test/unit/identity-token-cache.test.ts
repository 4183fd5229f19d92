/**
 * The verified-token cache on its own: at most `cache_entries` entries, the least recently used
 * one evicted first (a read or a re-store makes an entry the most recent), nothing kept when the
 * bound is 0, an entry gone from its expiry on or when its key-set generation changed.
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

  it('a read makes an entry the most recently used', () => {
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
