/**
 * A CEL map over a request-time object whose entries are computed on first read, then kept: the
 * policy variables (`identity`, `request`, `llm`) have 10 to 16 fields each, and a rule set reads
 * a handful of them. Converting every field of every variable per Check (lists, header maps,
 * claims, entitlement) was about 9 of the 110 KiB a Check allocated (bench/alloc.ts).
 *
 * The getters are one static table per variable (no closure per Check). A getter returns the
 * field's CEL value, or undefined for an absent optional field (`has()` is then false, and the
 * key is not listed). Iterating (size, keys, entries) computes every field.
 */
import { celMap, type CelInput, type CelMap } from '@bufbuild/cel';

export type FieldGetters<S> = ReadonlyMap<string, (source: S) => CelInput | undefined>;

class LazyFields<S> implements ReadonlyMap<string, CelInput> {
  readonly #source: S;
  readonly #getters: FieldGetters<S>;
  #values: Map<string, CelInput | undefined> | undefined;

  constructor(source: S, getters: FieldGetters<S>) {
    this.#source = source;
    this.#getters = getters;
  }

  get(key: string): CelInput | undefined {
    if (this.#values === undefined) this.#values = new Map();
    const values = this.#values;
    if (values.has(key)) return values.get(key);
    const getter = this.#getters.get(key);
    if (getter === undefined) return undefined;
    const v = getter(this.#source);
    values.set(key, v);
    return v;
  }

  has(key: string): boolean {
    return this.get(key) !== undefined;
  }

  get size(): number {
    let n = 0;
    for (const k of this.#getters.keys()) if (this.get(k) !== undefined) n++;
    return n;
  }

  *entries(): MapIterator<[string, CelInput]> {
    for (const k of this.#getters.keys()) {
      const v = this.get(k);
      if (v !== undefined) yield [k, v];
    }
  }

  *keys(): MapIterator<string> {
    for (const [k] of this.entries()) yield k;
  }

  *values(): MapIterator<CelInput> {
    for (const [, v] of this.entries()) yield v;
  }

  forEach(callback: (value: CelInput, key: string, map: ReadonlyMap<string, CelInput>) => void, thisArg?: unknown): void {
    for (const [k, v] of this.entries()) callback.call(thisArg, v, k, this);
  }

  [Symbol.iterator](): MapIterator<[string, CelInput]> {
    return this.entries();
  }
}

/** The CEL map of `source`'s fields, each computed by its getter when first read. */
export function lazyCelMap<S>(source: S, getters: FieldGetters<S>): CelMap {
  return celMap(new LazyFields(source, getters));
}
