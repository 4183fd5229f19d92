/**
 * HPACK (RFC 7541) for a server: a decoder for request header blocks (static and dynamic table,
 * Huffman) and an encoder of literal fields without indexing for responses. Decoded names and
 * values are ordinary (heap) strings; a field sent again from the dynamic table returns the same
 * string object.
 */
import { HUFFMAN_BITS, HUFFMAN_CODES, STATIC_TABLE } from './hpack-tables.ts';

export class HpackError extends Error {}

// Huffman decoding: a binary tree flattened into arrays (child 0/1 per node, symbol at leaves).
const left: number[] = [0];
const right: number[] = [0];
const sym: number[] = [-1];
for (let s = 0; s < 257; s++) {
  const bits = HUFFMAN_BITS[s] as number;
  const code = HUFFMAN_CODES[s] as number;
  let node = 0;
  for (let i = bits - 1; i >= 0; i--) {
    const bit = Math.floor(code / 2 ** i) % 2;
    const arr = bit === 0 ? left : right;
    let next = arr[node] as number;
    if (next === 0) {
      next = sym.length;
      left.push(0);
      right.push(0);
      sym.push(-1);
      arr[node] = next;
    }
    node = next;
  }
  sym[node] = s;
}
const LEFT = Int32Array.from(left);
const RIGHT = Int32Array.from(right);
const SYM = Int32Array.from(sym);

let scratch = Buffer.allocUnsafe(4096);

function huffmanDecode(src: Buffer, start: number, end: number): string {
  // Huffman codes are at least 5 bits: at most 8/5 of the input length in symbols.
  const max = Math.ceil(((end - start) * 8) / 5);
  if (scratch.length < max) scratch = Buffer.allocUnsafe(max);
  let out = 0;
  let node = 0;
  let depth = 0; // bits since the last symbol
  let allOnes = true;
  for (let i = start; i < end; i++) {
    const byte = src[i] as number;
    for (let b = 7; b >= 0; b--) {
      const bit = (byte >> b) & 1;
      node = bit === 0 ? (LEFT[node] as number) : (RIGHT[node] as number);
      if (node === 0) throw new HpackError('invalid Huffman code');
      depth++;
      if (bit === 0) allOnes = false;
      const s = SYM[node] as number;
      if (s >= 0) {
        if (s === 256) throw new HpackError('EOS in a Huffman string');
        scratch[out++] = s;
        node = 0;
        depth = 0;
        allOnes = true;
      }
    }
  }
  // Padding: fewer than 8 bits, all ones (a prefix of EOS).
  if (depth > 7 || !allOnes) throw new HpackError('invalid Huffman padding');
  return scratch.toString('latin1', 0, out);
}

interface Entry {
  readonly name: string;
  readonly value: string;
  readonly size: number;
}

/** The static table as entries, so an index reads the same way in either table. */
const STATIC: readonly Entry[] = STATIC_TABLE.map(([name, value]) => ({ name, value, size: name.length + value.length + 32 }));

export interface HeaderSink {
  field(name: string, value: string): void;
}

export class HpackDecoder {
  private entries: Entry[] = [];
  private size = 0;
  private maxSize: number;
  private pos = 0;
  private buf: Buffer = Buffer.alloc(0);
  /** @param settingsMax our SETTINGS_HEADER_TABLE_SIZE: the largest table the peer may ask for */
  private readonly settingsMax: number;
  constructor(settingsMax = 4096) {
    this.settingsMax = settingsMax;
    this.maxSize = settingsMax;
  }

  /** The dynamic table's size as HPACK counts it (name + value + 32 per entry), and its entries. */
  get tableSize(): number {
    return this.size;
  }
  get tableLength(): number {
    return this.entries.length;
  }

  private int(prefixBits: number): number {
    const mask = (1 << prefixBits) - 1;
    if (this.pos >= this.buf.length) throw new HpackError('truncated integer');
    let v = (this.buf[this.pos++] as number) & mask;
    if (v < mask) return v;
    let m = 0;
    for (;;) {
      if (this.pos >= this.buf.length) throw new HpackError('truncated integer');
      const b = this.buf[this.pos++] as number;
      v += (b & 0x7f) * 2 ** m;
      m += 7;
      if (m > 28) throw new HpackError('integer too large');
      if ((b & 0x80) === 0) return v;
    }
  }

  private str(): string {
    if (this.pos >= this.buf.length) throw new HpackError('truncated string');
    const huffman = ((this.buf[this.pos] as number) & 0x80) !== 0;
    const len = this.int(7);
    const start = this.pos;
    const end = start + len;
    if (end > this.buf.length) throw new HpackError('truncated string');
    this.pos = end;
    return huffman ? huffmanDecode(this.buf, start, end) : this.buf.toString('latin1', start, end);
  }

  private entry(index: number): Entry {
    if (index === 0) throw new HpackError('index 0');
    const e = index <= STATIC.length ? STATIC[index - 1] : this.entries[index - STATIC.length - 1];
    if (e === undefined) throw new HpackError('index out of range');
    return e;
  }

  private add(name: string, value: string): void {
    const size = name.length + value.length + 32;
    if (size > this.maxSize) {
      this.entries = [];
      this.size = 0;
      return;
    }
    while (this.size + size > this.maxSize) this.size -= (this.entries.pop() as Entry).size;
    this.entries.unshift({ name, value, size });
    this.size += size;
  }

  private resize(max: number): void {
    if (max > this.settingsMax) throw new HpackError('table size update above the setting');
    this.maxSize = max;
    while (this.size > max) this.size -= (this.entries.pop() as Entry).size;
  }

  /** Decodes one whole header block into sink; throws HpackError (a COMPRESSION_ERROR) on bad input. */
  decode(block: Buffer, sink: HeaderSink, maxListBytes: number): void {
    this.buf = block;
    this.pos = 0;
    let listBytes = 0;
    let fields = 0;
    try {
      while (this.pos < block.length) {
        const b = block[this.pos] as number;
        let name: string;
        let value: string;
        if (b & 0x80) {
          const e = this.entry(this.int(7));
          name = e.name;
          value = e.value;
        } else if (b & 0x40) {
          const idx = this.int(6);
          name = idx === 0 ? this.str() : this.entry(idx).name;
          value = this.str();
          this.add(name, value);
        } else if (b & 0x20) {
          if (fields > 0) throw new HpackError('table size update after a field');
          this.resize(this.int(5));
          continue;
        } else {
          const idx = this.int(4);
          name = idx === 0 ? this.str() : this.entry(idx).name;
          value = this.str();
        }
        fields++;
        listBytes += name.length + value.length + 32;
        if (listBytes > maxListBytes) throw new HpackError('header list too large');
        sink.field(name, value);
      }
    } finally {
      this.buf = EMPTY;
    }
  }
}

const EMPTY = Buffer.alloc(0);

function encodeInt(out: number[], value: number, prefixBits: number, first: number): void {
  const max = (1 << prefixBits) - 1;
  if (value < max) {
    out.push(first | value);
    return;
  }
  out.push(first | max);
  let v = value - max;
  while (v >= 128) {
    out.push((v % 128) + 128);
    v = Math.floor(v / 128);
  }
  out.push(v);
}

function encodeStr(out: number[], s: string): void {
  const bytes = Buffer.from(s, 'latin1');
  encodeInt(out, bytes.length, 7, 0);
  for (const b of bytes) out.push(b);
}

const STATIC_NAME = new Map<string, number>();
const STATIC_FIELD = new Map<string, number>();
STATIC_TABLE.forEach(([n, v], i) => {
  if (!STATIC_NAME.has(n)) STATIC_NAME.set(n, i + 1);
  STATIC_FIELD.set(`${n}\0${v}`, i + 1);
});

/** A header block for these fields: static-table matches indexed, the rest literals without indexing (no Huffman). */
export function encodeHeaders(fields: readonly (readonly [string, string])[]): Buffer {
  const out: number[] = [];
  for (const [name, value] of fields) {
    const full = STATIC_FIELD.get(`${name}\0${value}`);
    if (full !== undefined) {
      encodeInt(out, full, 7, 0x80);
      continue;
    }
    const idx = STATIC_NAME.get(name);
    if (idx !== undefined) encodeInt(out, idx, 4, 0);
    else {
      out.push(0);
      encodeStr(out, name);
    }
    encodeStr(out, value);
  }
  return Buffer.from(out);
}
