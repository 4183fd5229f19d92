/**
 * An incremental JSON reader for response bodies: bytes go in as they arrive, in chunks cut
 * anywhere, and only the scalar values at the paths a reader asks for come out. Nothing else is
 * built: string contents are skipped with Buffer.indexOf, subtrees no path can match are only
 * bracket-counted, and what is held between chunks is bounded whatever the body's size (a small
 * key buffer, one captured value of at most MAX_CAPTURE bytes, one byte per open container).
 * JSON.parse would hold the whole body (a 50 MB stream) and a library tokenizer builds every
 * string (the completion text) before it can be dropped.
 *
 * Paths are dot-separated keys, `*` standing for any array element, e.g.
 * `choices.*.delta.tool_calls.*.function.name`. A captured value is reported with the indices of
 * its `*` segments (which choice, which tool call).
 */

export type Scalar = string | number | boolean | null;

/** Receives the captured values. */
export interface JsonSink {
  /** `field` is the index of the matching path; `at` the array indices of its `*` segments. */
  value(field: number, v: Scalar, at: readonly number[]): void;
}

export interface FieldNode {
  readonly keys: Map<string, FieldNode>;
  /** The keys as bytes, matched against a key without decoding it. */
  readonly keyBytes: { readonly key: Buffer; readonly node: FieldNode }[];
  each: FieldNode | undefined;
  field: number | undefined;
}

function node(): FieldNode {
  return { keys: new Map(), keyBytes: [], each: undefined, field: undefined };
}

/** The paths as a tree, built once per reader (field id = index in `paths`). */
export function fieldTree(paths: readonly string[]): FieldNode {
  const root = node();
  paths.forEach((p, id) => {
    let n = root;
    for (const seg of p.split('.')) {
      if (seg === '*') n = n.each ??= node();
      else {
        let next = n.keys.get(seg);
        if (next === undefined) {
          next = node();
          n.keys.set(seg, next);
          n.keyBytes.push({ key: Buffer.from(seg), node: next });
        }
        n = next;
      }
    }
    if (n.field !== undefined) throw new Error(`path '${p}' given twice`);
    n.field = id;
  });
  return root;
}

/** Nesting deeper than this is malformed for a response (bounds the bracket stack). */
export const MAX_DEPTH = 512;
/** Longest captured string value in bytes; longer ones are cut (and end with `…`). */
export const MAX_CAPTURE = 1024;
/** Object keys longer than this match no path (paths name short keys). */
const MAX_KEY = 64;
const MAX_NUMBER = 40;

// Scanner states.
const VALUE = 0; // a value is expected
const AFTER_VALUE = 1; // `,` or a closing bracket (or the document's end) is expected
const KEY_OR_END = 2; // after `{`
const KEY = 3; // after `,` in an object
const COLON = 4;
const VALUE_OR_END = 5; // after `[`
const STRING = 6;
const NUMBER = 7;
const LITERAL = 8;
const DONE = 9; // the document is complete: only whitespace may follow

const OBJECT = 1;
const ARRAY = 2;

const QUOTE = 0x22;
const BACKSLASH = 0x5c;

function isSpace(c: number): boolean {
  return c === 0x20 || c === 0x0a || c === 0x0d || c === 0x09;
}

function isNumberByte(c: number): boolean {
  return (c >= 0x30 && c <= 0x39) || c === 0x2d || c === 0x2b || c === 0x2e || c === 0x65 || c === 0x45;
}

const TRUE = Buffer.from('true');
const FALSE = Buffer.from('false');
const NULL = Buffer.from('null');

function same(buf: Buffer, len: number, word: Buffer): boolean {
  if (len !== word.length) return false;
  for (let i = 0; i < len; i++) if (buf[i] !== word[i]) return false;
  return true;
}

/** true, false or null from the bytes read; undefined when they are none of them. */
function literal(buf: Buffer, len: number): boolean | null | undefined {
  if (same(buf, len, TRUE)) return true;
  if (same(buf, len, FALSE)) return false;
  if (same(buf, len, NULL)) return null;
  return undefined;
}

const NUMBER_RE = /^-?(?:0|[1-9][0-9]*)(?:\.[0-9]+)?(?:[eE][+-]?[0-9]+)?$/;

export type DocumentState = 'complete' | 'empty' | 'incomplete' | 'malformed';

export interface JsonStreamOptions {
  /**
   * A top-level array is a sequence of documents (Gemini's streamGenerateContent without
   * `alt=sse` answers `[{...},{...}]`): paths match inside each element, and `onDocument` is
   * called as each element ends.
   */
  readonly arrayOfDocuments?: boolean;
  /** Called when a document (or, with arrayOfDocuments, an element) is complete. */
  readonly onDocument?: () => void;
  /**
   * Fields captured once per stream: after their first string value they are skipped (a value
   * every SSE chunk repeats, such as the model, is then decoded once).
   */
  readonly once?: ReadonlySet<number>;
}

export class JsonStream {
  readonly #root: FieldNode;
  readonly #sink: JsonSink;
  readonly #opts: JsonStreamOptions;
  #state = VALUE;
  #depth = 0;
  readonly #kinds = new Uint8Array(MAX_DEPTH);
  readonly #index = new Int32Array(MAX_DEPTH);
  readonly #nodes: (FieldNode | undefined)[] = [];
  /** The path node of the value being read (undefined: no path goes through it). */
  #valueNode: FieldNode | undefined;
  #started = false;
  #error: string | undefined;
  #arrayDocs = false;
  // String state.
  #escape = false;
  #isKey = false;
  #capturing = false;
  readonly #buf = Buffer.allocUnsafe(MAX_CAPTURE);
  #len = 0;
  #overflow = false;
  #hasEscape = false;
  readonly #muted: boolean[] = [];

  constructor(root: FieldNode, sink: JsonSink, opts: JsonStreamOptions = {}) {
    this.#root = root;
    this.#sink = sink;
    this.#opts = opts;
    this.#valueNode = root;
  }

  /** Why the text is not JSON, once it is known not to be (reading stops there). */
  get error(): string | undefined {
    return this.#error;
  }

  /** Starts a new document (the next SSE event's data). */
  reset(): void {
    this.#state = VALUE;
    this.#depth = 0;
    this.#valueNode = this.#root;
    this.#started = false;
    this.#error = undefined;
    this.#arrayDocs = false;
    this.#escape = false;
    this.#len = 0;
  }

  /** Whether the text so far ends a complete document (or is only whitespace). */
  state(): DocumentState {
    if (this.#error !== undefined) return 'malformed';
    if (!this.#started) return 'empty';
    if (this.#state === NUMBER && this.#depth === 0) {
      // A top-level number ends with the text.
      this.#endNumber();
      return this.#error !== undefined ? 'malformed' : 'complete';
    }
    return this.#state === DONE ? 'complete' : 'incomplete';
  }

  #fail(why: string): void {
    this.#error ??= why;
  }

  write(bytes: Uint8Array, from = 0, to = bytes.length): void {
    const b = Buffer.isBuffer(bytes) ? bytes : Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    let i = from;
    while (i < to && this.#error === undefined) {
      const st = this.#state;
      if (st === STRING) {
        i = this.#string(b, i, to);
        continue;
      }
      const c = b[i] ?? 0;
      if (st === NUMBER) {
        if (isNumberByte(c)) {
          if (this.#len < MAX_NUMBER) this.#buf[this.#len] = c;
          this.#len++;
          i++;
          continue;
        }
        this.#endNumber();
        continue; // the terminator is read in the next state
      }
      if (st === LITERAL) {
        if (c >= 0x61 && c <= 0x7a) {
          if (this.#len < 5) this.#buf[this.#len] = c;
          this.#len++;
          i++;
          continue;
        }
        this.#endLiteral();
        continue;
      }
      i++;
      if (isSpace(c)) continue;
      this.#token(c);
    }
  }

  #token(c: number): void {
    switch (this.#state) {
      case VALUE:
        this.#startValue(c);
        return;
      case VALUE_OR_END:
        if (c === 0x5d) this.#close(ARRAY);
        else this.#startValue(c);
        return;
      case KEY_OR_END:
        if (c === 0x7d) this.#close(OBJECT);
        else if (c === QUOTE) this.#startString(true);
        else this.#fail('expected a key or }');
        return;
      case KEY:
        if (c === QUOTE) this.#startString(true);
        else this.#fail('expected a key');
        return;
      case COLON:
        if (c === 0x3a) this.#state = VALUE;
        else this.#fail('expected :');
        return;
      case AFTER_VALUE: {
        const kind = this.#kinds[this.#depth - 1];
        if (c === 0x2c) {
          if (kind === OBJECT) this.#state = KEY;
          else {
            this.#index[this.#depth - 1] = (this.#index[this.#depth - 1] ?? 0) + 1;
            this.#valueNode = this.#nodes[this.#depth - 1]?.each;
            this.#state = VALUE;
          }
        } else if (c === 0x7d && kind === OBJECT) this.#close(OBJECT);
        else if (c === 0x5d && kind === ARRAY) this.#close(ARRAY);
        else this.#fail('expected , or a closing bracket');
        return;
      }
      case DONE:
        this.#fail('data after the end of the document');
        return;
    }
  }

  #startValue(c: number): void {
    if (!this.#started) {
      this.#started = true;
      if (c === 0x5b && this.#opts.arrayOfDocuments === true) this.#arrayDocs = true;
    }
    if (c === 0x7b || c === 0x5b) {
      if (this.#depth >= MAX_DEPTH) {
        this.#fail(`nested deeper than ${MAX_DEPTH}`);
        return;
      }
      const d = this.#depth++;
      const array = c === 0x5b;
      this.#kinds[d] = array ? ARRAY : OBJECT;
      this.#index[d] = 0;
      // The elements of a top-level array of documents are matched from the root.
      const n = d === 0 && this.#arrayDocs ? { keys: new Map(), keyBytes: [], each: this.#root, field: undefined } : this.#valueNode;
      this.#nodes[d] = n;
      this.#valueNode = array ? n?.each : undefined;
      this.#state = array ? VALUE_OR_END : KEY_OR_END;
      return;
    }
    if (c === QUOTE) {
      this.#startString(false);
      return;
    }
    this.#len = 1;
    this.#buf[0] = c;
    if (c === 0x2d || (c >= 0x30 && c <= 0x39)) this.#state = NUMBER;
    else if (c === 0x74 || c === 0x66 || c === 0x6e) this.#state = LITERAL;
    else this.#fail('expected a value');
  }

  #close(kind: number): void {
    if (this.#depth === 0 || this.#kinds[this.#depth - 1] !== kind) {
      this.#fail('mismatched bracket');
      return;
    }
    this.#depth--;
    this.#valueEnded();
  }

  /** After a value: the container's next element, or the end of a document. */
  #valueEnded(): void {
    const d = this.#depth;
    if (d === 0) {
      this.#state = DONE;
      if (!this.#arrayDocs) this.#opts.onDocument?.();
      return;
    }
    this.#state = AFTER_VALUE;
    if (d === 1 && this.#arrayDocs) this.#opts.onDocument?.();
  }

  #startString(isKey: boolean): void {
    this.#state = STRING;
    this.#isKey = isKey;
    this.#escape = false;
    this.#len = 0;
    this.#overflow = false;
    this.#hasEscape = false;
    if (isKey) {
      // Keys are read only where a path goes on from this object.
      this.#capturing = this.#nodes[this.#depth - 1] !== undefined;
    } else {
      if (!this.#started) this.#started = true;
      this.#capturing = this.#wanted(this.#valueNode);
    }
  }

  #wanted(n: FieldNode | undefined): boolean {
    const f = n?.field;
    return f !== undefined && this.#muted[f] !== true;
  }

  /** Reads string bytes from i; returns where reading stopped. */
  #string(b: Buffer, i: number, to: number): number {
    if (this.#escape) {
      this.#escape = false;
      this.#keep(b, i, i + 1);
      i++;
    }
    let from = i;
    for (;;) {
      const j = b.indexOf(QUOTE, from);
      if (j === -1 || j >= to) {
        // No closing quote in this chunk: is its last byte an escaping backslash?
        let k = to - 1;
        while (k >= i && b[k] === BACKSLASH) k--;
        this.#escape = (to - 1 - k) % 2 === 1;
        this.#keep(b, i, to);
        return to;
      }
      let k = j - 1;
      while (k >= i && b[k] === BACKSLASH) k--;
      if ((j - 1 - k) % 2 === 1) {
        from = j + 1; // an escaped quote
        continue;
      }
      this.#keep(b, i, j);
      this.#endString();
      return j + 1;
    }
  }

  #keep(b: Buffer, from: number, to: number): void {
    if (!this.#capturing || to <= from) return;
    const max = this.#isKey ? MAX_KEY : MAX_CAPTURE;
    const room = max - this.#len;
    const n = Math.min(room, to - from);
    if (n > 0) {
      const buf = this.#buf;
      let len = this.#len;
      // Keys and ids are short: a loop costs less than a native copy's call.
      if (n <= 32) {
        for (let x = from; x < from + n; x++) {
          const c = b[x] ?? 0;
          if (c === BACKSLASH) this.#hasEscape = true;
          buf[len++] = c;
        }
      } else {
        b.copy(buf, len, from, from + n);
        const bs = buf.indexOf(BACKSLASH, len);
        if (bs !== -1 && bs < len + n) this.#hasEscape = true;
        len += n;
      }
      this.#len = len;
    }
    if (to - from > n) this.#overflow = true;
  }

  /** The path node of the key just read (without decoding it when it has no escapes). */
  #child(n: FieldNode): FieldNode | undefined {
    if (this.#overflow) return undefined;
    if (this.#hasEscape) return n.keys.get(this.#decode() ?? '');
    const len = this.#len;
    const buf = this.#buf;
    next: for (const k of n.keyBytes) {
      const key = k.key;
      if (key.length !== len) continue;
      for (let x = 0; x < len; x++) if (key[x] !== buf[x]) continue next;
      return k.node;
    }
    return undefined;
  }

  #decode(): string | undefined {
    const raw = this.#buf.toString('utf8', 0, this.#len);
    if (!this.#hasEscape) return raw;
    try {
      return JSON.parse(`"${raw}"`) as string;
    } catch {
      // A cut value may end inside an escape: drop the partial escape.
      const cut = raw.replace(/\\(?:u[0-9a-fA-F]{0,3})?$/, '');
      try {
        return JSON.parse(`"${cut}"`) as string;
      } catch {
        return undefined;
      }
    }
  }

  #endString(): void {
    if (this.#isKey) {
      const d = this.#depth - 1;
      const n = this.#nodes[d];
      this.#valueNode = n === undefined ? undefined : this.#child(n);
      this.#state = COLON;
      return;
    }
    if (this.#capturing) {
      let v = this.#decode();
      if (v !== undefined) {
        // A cut value may end inside a UTF-8 sequence (decoded as U+FFFD): drop that.
        if (this.#overflow) v = `${v.replace(/\uFFFD+$/, '')}…`;
        this.#emit(v);
      }
    }
    this.#valueEnded();
  }

  #endNumber(): void {
    if (this.#wanted(this.#valueNode)) {
      const text = this.#len <= MAX_NUMBER ? this.#buf.toString('latin1', 0, this.#len) : '';
      if (!NUMBER_RE.test(text)) {
        this.#fail('malformed number');
        return;
      }
      this.#emit(Number(text));
    }
    this.#valueEnded();
  }

  #endLiteral(): void {
    const v = literal(this.#buf, this.#len);
    if (v === undefined) {
      this.#fail('malformed literal');
      return;
    }
    if (this.#wanted(this.#valueNode)) this.#emit(v);
    this.#valueEnded();
  }

  #emit(v: Scalar): void {
    const field = this.#valueNode?.field;
    if (field === undefined) return;
    const at: number[] = [];
    for (let d = this.#arrayDocs ? 1 : 0; d < this.#depth; d++) if (this.#kinds[d] === ARRAY) at.push(this.#index[d] ?? 0);
    this.#sink.value(field, v, at);
    if (typeof v === 'string' && this.#opts.once?.has(field) === true) this.#muted[field] = true;
  }
}
