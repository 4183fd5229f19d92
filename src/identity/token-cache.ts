/** A bounded LRU of verified tokens, each kept until its expiry, keyed by a hash of the token. */
import { hash } from 'node:crypto';

export interface CachedEntry<T> {
  readonly value: T;
  /** Epoch ms after which the entry is gone. */
  readonly expiresAt: number;
  /** The key-set generation the token was verified against. */
  readonly generation: number;
}

export class TokenCache<T> {
  readonly #max: number;
  readonly #map = new Map<string, CachedEntry<T>>();

  constructor(maxEntries: number) {
    this.#max = maxEntries;
  }

  static keyOf(token: string): string {
    return hash('sha256', token, 'base64url'); // one-shot: about half the cost of createHash()
  }

  /** The entry, unless expired or verified against another key-set generation than `generationOf` says. */
  get(key: string, now: number, generationOf: (value: T) => number): T | undefined {
    const e = this.#map.get(key);
    if (e === undefined) return undefined;
    this.#map.delete(key);
    if (now >= e.expiresAt || e.generation !== generationOf(e.value)) return undefined;
    this.#map.set(key, e); // most recently used last
    return e.value;
  }

  set(key: string, entry: CachedEntry<T>): void {
    if (this.#max === 0) return;
    this.#map.delete(key);
    this.#map.set(key, entry);
    while (this.#map.size > this.#max) {
      const oldest = this.#map.keys().next();
      if (oldest.done === true) break;
      this.#map.delete(oldest.value);
    }
  }

  get size(): number {
    return this.#map.size;
  }
}
