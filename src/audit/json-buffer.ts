/**
 * A growing byte buffer that JSON is written into as UTF-8: the bytes JSON.stringify would give,
 * without the string it would make (a decision-log line's record took 0.8 KiB of V8 heap per Check
 * as a string, copied again into the line; bench/alloc.ts). Strings that need no escape are
 * written as they are; any other string, and any value other than a string, number, boolean,
 * null, array or flat record, is handed to JSON.stringify itself, so the bytes are always its own
 * (test/unit/audit.test.ts compares them). A record's members with short string values are kept
 * as bytes and copied when they come again (src/core/encoded-pairs.ts).
 */
import { copyBytes, EncodedPairs, hasRoom } from '../core/encoded-pairs.ts';

/** Whether JSON writes the string as it is: no quote, backslash, control character or surrogate. */
function plain(s: string): boolean {
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c < 0x20 || c === 0x22 || c === 0x5c || (c >= 0xd800 && c <= 0xdfff)) return false;
  }
  return true;
}

const QUOTE = 0x22;
const COMMA = 0x2c;
const COLON = 0x3a;
const OPEN_LIST = 0x5b;
const CLOSE_LIST = 0x5d;

/** Distinct keys whose members are kept as bytes. */
const MAX_CACHED_KEYS = 256;

export class JsonBuffer {
  #buf: Buffer;
  #pos = 0;
  /** key -> short string value -> the member's bytes (`,"key":"value"`). */
  readonly #members = new EncodedPairs(MAX_CACHED_KEYS);

  constructor(initialBytes: number) {
    this.#buf = Buffer.allocUnsafe(initialBytes);
  }

  /** Bytes written since the last take(). */
  get length(): number {
    return this.#pos;
  }

  /** A copy of the bytes written, and an empty buffer (its memory kept for what comes next). */
  take(): Buffer {
    const out = Buffer.copyBytesFrom(this.#buf, 0, this.#pos);
    this.#pos = 0;
    return out;
  }

  /** Room for `bytes` more: a buffer twice as large (or large enough) when they do not fit. */
  #reserve(bytes: number): Buffer {
    if (this.#pos + bytes > this.#buf.length) {
      const grown = Buffer.allocUnsafe(Math.max(this.#buf.length * 2, this.#pos + bytes));
      this.#buf.copy(grown, 0, 0, this.#pos);
      this.#buf = grown;
    }
    return this.#buf;
  }

  /** Text as UTF-8 (at most 3 bytes per UTF-16 unit). */
  text(s: string): void {
    const len = s.length;
    const b = this.#reserve(3 * len);
    if (len <= 32) {
      // Short text byte by byte while it is ASCII: cheaper than a call into the runtime.
      let p = this.#pos;
      let i = 0;
      for (; i < len; i++) {
        const c = s.charCodeAt(i);
        if (c > 0x7f) break;
        b[p++] = c;
      }
      if (i === len) {
        this.#pos = p;
        return;
      }
    }
    this.#pos += b.write(s, this.#pos);
  }

  /** Raw bytes (already JSON). */
  #bytes(u: Buffer): void {
    this.#pos = copyBytes(this.#reserve(u.length), this.#pos, u);
  }

  #byte(c: number): void {
    const b = this.#reserve(1);
    b[this.#pos++] = c;
  }

  /** A string as JSON. */
  string(s: string): void {
    if (plain(s)) {
      this.#byte(QUOTE);
      this.text(s);
      this.#byte(QUOTE);
    } else this.text(JSON.stringify(s));
  }

  /** A value as JSON; undefined (or a function or symbol) as JSON writes it in a list: null. */
  value(v: unknown): void {
    if (typeof v === 'string') this.string(v);
    else if (typeof v === 'number') this.text(Number.isFinite(v) ? String(v) : 'null');
    else if (typeof v === 'boolean') this.text(v ? 'true' : 'false');
    else if (v === null || v === undefined || typeof v === 'function' || typeof v === 'symbol') this.text('null');
    else if (Array.isArray(v)) {
      this.#byte(OPEN_LIST);
      for (let i = 0; i < v.length; i++) {
        if (i > 0) this.#byte(COMMA);
        this.value(v[i]);
      }
      this.#byte(CLOSE_LIST);
    } else this.text(JSON.stringify(v) ?? 'null');
  }

  /**
   * The members of a flat record, each after a comma (`,"key":value`), in JSON.stringify's order
   * and with its omissions (undefined, functions, symbols). Returns how many were written.
   */
  members(record: object): number {
    const r = record as Record<string, unknown>;
    let n = 0;
    for (const k in r) {
      if (!Object.hasOwn(r, k)) continue;
      const v = r[k];
      if (v === undefined || typeof v === 'function' || typeof v === 'symbol') continue;
      n++;
      const values = typeof v === 'string' ? this.#members.values(k, v) : undefined;
      const hit = values?.get(v as string);
      if (hit !== undefined) {
        this.#bytes(hit);
        continue;
      }
      const from = this.#pos;
      this.#byte(COMMA);
      this.string(k);
      this.#byte(COLON);
      this.value(v);
      if (values !== undefined && hasRoom(values)) values.set(v as string, Buffer.copyBytesFrom(this.#buf, from, this.#pos - from));
    }
    return n;
  }
}
