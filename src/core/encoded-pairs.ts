/**
 * Encoded bytes of key/value pairs whose value is a short string, kept for reuse. A Check's span
 * attributes, decision-log members and dynamic metadata have keys that never change and string
 * values that mostly repeat (workloads, models, providers, rules, reason codes): the span encoder
 * (src/telemetry/otlp-trace-encoder.ts), the decision log (src/audit/json-buffer.ts) and the
 * response encoder (src/envoy/response-encoder.ts) encode such a pair once and copy its bytes
 * after. Bounded: past the bounds a pair is encoded each time, never dropped. Each user keeps its
 * own, in its own encoding.
 */

/** Values longer than this are encoded each time (ids, details): they rarely repeat. */
const MAX_VALUE_CHARS = 128;
/** Distinct values kept per key; further values of that key are encoded each time. */
const MAX_VALUES_PER_KEY = 256;

export class EncodedPairs {
  readonly #maxKeys: number;
  readonly #byKey = new Map<string, Map<string, Buffer>>();

  /** `maxKeys`: distinct keys kept. */
  constructor(maxKeys: number) {
    this.#maxKeys = maxKeys;
  }

  /**
   * The values kept for `key` (value -> its pair's bytes) when `value` is one that may be kept
   * (short, and the key has or gets room); undefined when the pair is to be encoded each time.
   */
  values(key: string, value: string): Map<string, Buffer> | undefined {
    if (value.length > MAX_VALUE_CHARS) return undefined;
    let values = this.#byKey.get(key);
    if (values === undefined && this.#byKey.size < this.#maxKeys) {
      values = new Map();
      this.#byKey.set(key, values);
    }
    return values;
  }
}

/** Whether `values` (from EncodedPairs.values) takes one more value. */
export function hasRoom(values: Map<string, Buffer>): boolean {
  return values.size < MAX_VALUES_PER_KEY;
}

/**
 * Copies `src` into `dst` at `at` (room already there) and returns the position after it. A pair
 * is short: up to 96 bytes a loop, cheaper than a call into the runtime.
 */
export function copyBytes(dst: Uint8Array, at: number, src: Uint8Array): number {
  const n = src.length;
  if (n > 96) {
    dst.set(src, at);
    return at + n;
  }
  let p = at;
  for (let i = 0; i < n; i++) dst[p++] = src[i] as number;
  return p;
}
