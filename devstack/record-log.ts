/**
 * What a mock provider recorded, bounded: every record counts (`length`), the last `keep` stay
 * readable. Tests and benchmarks read a count, mark it (`const before = log.length`) and later
 * read what came since (`log.slice(before)`), or the last record (`log.at(-1)`); indices are
 * absolute (a dropped record keeps its place), so a mark stays valid while records are dropped.
 * Asking for a dropped record throws: a test never reads a silently shortened list. Without the
 * bound, a benchmark or a soak run kept every request and response (bodies included) for the
 * whole run.
 */

/** Records a mock keeps by default: more than the largest window a test reads (12,000 requests: 200/s for 60 s). */
export const DEFAULT_KEEP = 20_000;

export class RecordLog<T> {
  readonly #keep: number;
  #items: T[] = [];
  /** Records dropped from the front (the absolute index of #items[0]). */
  #dropped = 0;

  constructor(keep: number = DEFAULT_KEEP) {
    if (!Number.isInteger(keep) || keep < 1) throw new Error(`keep must be a positive integer, not ${keep}`);
    this.#keep = keep;
  }

  /** Every record pushed so far, kept or dropped. */
  get length(): number {
    return this.#dropped + this.#items.length;
  }

  /** Records still readable: at least the last `keep` pushed, at most a quarter more (dropped in batches). */
  get kept(): number {
    return this.#items.length;
  }

  push(v: T): void {
    this.#items.push(v);
    if (this.#items.length > this.#keep + Math.ceil(this.#keep / 4)) {
      const drop = this.#items.length - this.#keep;
      this.#items.splice(0, drop);
      this.#dropped += drop;
    }
  }

  /** The record at an absolute index; a negative one counts from the end (`at(-1)`: the last). Undefined past the end. */
  at(i: number): T | undefined {
    const abs = i < 0 ? this.length + i : i;
    if (abs < 0 || abs >= this.length) return undefined;
    return this.#items[this.#index(abs)];
  }

  /** Records `from` (absolute) up to `to` (exclusive; default: the end). */
  slice(from = 0, to: number = this.length): T[] {
    if (from < 0 || to < 0) throw new Error('slice takes absolute indices (0 or more)');
    if (from >= to) return [];
    return this.#items.slice(this.#index(from), this.#index(Math.min(to, this.length)));
  }

  /** The kept records that match. */
  filter(pred: (v: T) => boolean): T[] {
    return this.#items.filter(pred);
  }

  /** The first kept record that matches. */
  find(pred: (v: T) => boolean): T | undefined {
    return this.#items.find(pred);
  }

  [Symbol.iterator](): Iterator<T> {
    return this.#items[Symbol.iterator]();
  }

  /** JSON of the kept records (a test that scans what the mock saw for a secret). */
  toJSON(): T[] {
    return this.#items;
  }

  #index(abs: number): number {
    if (abs < this.#dropped) throw new Error(`record ${abs} was dropped: only the last ${this.#items.length} of ${this.length} are kept`);
    return abs - this.#dropped;
  }
}
