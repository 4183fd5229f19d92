/** A bounded cache of verified tokens (second-chance eviction), each kept until its expiry, keyed by a hash of the token. */
import { hash } from 'node:crypto';

export interface CachedEntry<T> {
  readonly value: T;
  /** Epoch ms after which the entry is gone. */
  readonly expiresAt: number;
  /** The key-set generation the token was verified against. */
  readonly generation: number;
}

/** An entry with its second-chance mark: read since it was stored or last passed over. */
interface Slot<T> {
  readonly entry: CachedEntry<T>;
  used: boolean;
}

/**
 * Bounded at `maxEntries`, evicting in insertion order with a second chance (CLOCK, an
 * approximation of LRU): a read marks its entry, and eviction passes over a marked entry once
 * (unmarks it and moves it last) before it evicts an unmarked one. A read changes no map: a
 * delete and set per read, in a map that lives as long as the process, had V8 rehash its table in
 * the old generation every few Checks (about 150 B per Check that only a full collection frees,
 * bench/old-gen.ts).
 */
export class TokenCache<T> {
  readonly #max: number;
  readonly #map = new Map<string, Slot<T>>();

  constructor(maxEntries: number) {
    this.#max = maxEntries;
  }

  static keyOf(token: string): string {
    return hash('sha256', token, 'base64url'); // one-shot: about half the cost of createHash()
  }

  /** The entry, unless expired or verified against another key-set generation than `generationOf` says. */
  get(key: string, now: number, generationOf: (value: T) => number): T | undefined {
    const slot = this.#map.get(key);
    if (slot === undefined) return undefined;
    const e = slot.entry;
    if (now >= e.expiresAt || e.generation !== generationOf(e.value)) {
      this.#map.delete(key);
      return undefined;
    }
    slot.used = true;
    return e.value;
  }

  set(key: string, entry: CachedEntry<T>): void {
    if (this.#max === 0) return;
    this.#map.delete(key);
    // Room is made before the new entry goes in, so it is never the one evicted. Each pass
    // either evicts or unmarks one entry, so this ends within twice the bound.
    while (this.#map.size >= this.#max) {
      const oldest = this.#map.entries().next();
      if (oldest.done === true) break;
      const [k, slot] = oldest.value;
      this.#map.delete(k);
      if (slot.used) {
        slot.used = false;
        this.#map.set(k, slot);
      }
    }
    this.#map.set(key, { entry, used: false });
  }

  get size(): number {
    return this.#map.size;
  }
}
