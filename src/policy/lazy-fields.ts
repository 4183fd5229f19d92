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

/** A variable's fields: each field's getter and its slot in a map's values (made once per variable). */
export class FieldGetters<S> {
  readonly keys: readonly string[];
  readonly getters: readonly ((source: S) => CelInput | undefined)[];
  readonly #slots: ReadonlyMap<string, number>;

  constructor(table: Readonly<Record<string, (source: S) => CelInput | undefined>>) {
    this.keys = Object.keys(table);
    this.getters = Object.values(table);
    this.#slots = new Map(this.keys.map((k, i) => [k, i]));
  }

  slot(key: string): number | undefined {
    return this.#slots.get(key);
  }
}

/** A slot whose field has not been read yet. */
const UNREAD = Symbol('unread');

class LazyFields<S> implements ReadonlyMap<string, CelInput> {
  readonly #source: S;
  readonly #fields: FieldGetters<S>;
  /** The values read so far, by slot (an array, not a Map: a handful of reads per decision). */
  #values: (CelInput | undefined | typeof UNREAD)[] | undefined;

  constructor(source: S, fields: FieldGetters<S>) {
    this.#source = source;
    this.#fields = fields;
  }

  get(key: string): CelInput | undefined {
    const slot = this.#fields.slot(key);
    if (slot === undefined) return undefined;
    if (this.#values === undefined) this.#values = new Array(this.#fields.keys.length).fill(UNREAD);
    const values = this.#values;
    const known = values[slot];
    if (known !== UNREAD) return known;
    const v = (this.#fields.getters[slot] as (source: S) => CelInput | undefined)(this.#source);
    values[slot] = v;
    return v;
  }

  has(key: string): boolean {
    return this.get(key) !== undefined;
  }

  get size(): number {
    let n = 0;
    for (const k of this.#fields.keys) if (this.get(k) !== undefined) n++;
    return n;
  }

  *entries(): MapIterator<[string, CelInput]> {
    for (const k of this.#fields.keys) {
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
export function lazyCelMap<S>(source: S, fields: FieldGetters<S>): CelMap {
  return celMap(new LazyFields(source, fields));
}
