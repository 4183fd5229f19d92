/**
 * The CheckResponse wire encoder: sizes the message, then writes it into one Buffer. protobufjs's
 * generated encoder (what proto-loader serializes with) makes an operation object per field and a
 * state object per nested message before it writes: 12 to 16 KiB of short-lived objects per
 * allow with dynamic metadata, the largest share of the about 110 KiB a Check allocated
 * (bench/alloc.ts). This one allocates the output Buffer only (its loops index their lists: a
 * for-of here left an iterator result per entry, 0.3 KiB per Check).
 *
 * It writes what protobufjs writes, byte for byte (test/unit/response-encoding.test.ts compares
 * them): fields in field-number order, a field whenever it is set (a 0 status code included),
 * minimal varints. The field numbers are Envoy's and Google's, checked against the loaded protos
 * at start (proto.ts), so a change in them stops the server from starting instead of being
 * written wrong.
 */
import { copyBytes, EncodedPairs, hasRoom } from '../core/encoded-pairs.ts';
import { JsonStruct, type JsonValue, type ProtoStruct } from '../core/struct.ts';
import type { CheckResponse } from './response.ts';

interface HeaderValueOption {
  readonly header: { readonly key: string; readonly value: string };
  readonly append_action: number;
}

interface ProtoValue {
  readonly nullValue?: unknown;
  readonly numberValue?: number;
  readonly stringValue?: string;
  readonly boolValue?: boolean;
  readonly structValue?: ProtoStruct;
  readonly listValue?: { readonly values?: readonly ProtoValue[] };
}

/** The field numbers written, as `message.field`; proto.ts checks each against the protos. */
export const FIELD_NUMBERS: Readonly<Record<string, number>> = {
  'envoy.service.auth.v3.CheckResponse.status': 1,
  'envoy.service.auth.v3.CheckResponse.denied_response': 2,
  'envoy.service.auth.v3.CheckResponse.ok_response': 3,
  'envoy.service.auth.v3.CheckResponse.dynamic_metadata': 4,
  'google.rpc.Status.code': 1,
  'google.rpc.Status.message': 2,
  'envoy.service.auth.v3.DeniedHttpResponse.status': 1,
  'envoy.service.auth.v3.DeniedHttpResponse.headers': 2,
  'envoy.service.auth.v3.DeniedHttpResponse.body': 3,
  'envoy.type.v3.HttpStatus.code': 1,
  'envoy.service.auth.v3.OkHttpResponse.headers': 2,
  'envoy.service.auth.v3.OkHttpResponse.headers_to_remove': 5,
  'envoy.service.auth.v3.OkHttpResponse.response_headers_to_add': 6,
  'envoy.service.auth.v3.OkHttpResponse.query_parameters_to_remove': 8,
  'envoy.config.core.v3.HeaderValueOption.header': 1,
  'envoy.config.core.v3.HeaderValueOption.append_action': 3,
  'envoy.config.core.v3.HeaderValue.key': 1,
  'envoy.config.core.v3.HeaderValue.value': 2,
  'google.protobuf.Struct.fields': 1,
  'google.protobuf.Struct.FieldsEntry.key': 1,
  'google.protobuf.Struct.FieldsEntry.value': 2,
  'google.protobuf.Value.nullValue': 1,
  'google.protobuf.Value.numberValue': 2,
  'google.protobuf.Value.stringValue': 3,
  'google.protobuf.Value.boolValue': 4,
  'google.protobuf.Value.structValue': 5,
  'google.protobuf.Value.listValue': 6,
  'google.protobuf.ListValue.values': 1,
};

// Wire types
const VARINT = 0;
const FIXED64 = 1;
const LEN = 2;
const tag = (field: number, wire: number): number => (field << 3) | wire;

/** Bytes of an unsigned varint below 2^32. */
function varintSize(n: number): number {
  return n < 0x80 ? 1 : n < 0x4000 ? 2 : n < 0x200000 ? 3 : n < 0x10000000 ? 4 : 5;
}
/** Bytes of an int32 (a negative one is sign-extended to ten bytes). */
function int32Size(n: number): number {
  return n < 0 ? 10 : varintSize(n);
}
/** A length-delimited field of `len` bytes (all tags here are one byte). */
function lenField(len: number): number {
  return 1 + varintSize(len) + len;
}
function stringField(s: string): number {
  return lenField(Buffer.byteLength(s));
}

function headerSize(h: HeaderValueOption): number {
  return lenField(stringField(h.header.key) + stringField(h.header.value)) + 1 + int32Size(h.append_action);
}
function headersSize(hs: readonly HeaderValueOption[]): number {
  let n = 0;
  for (let i = 0; i < hs.length; i++) n += lenField(headerSize(hs[i] as HeaderValueOption));
  return n;
}
function stringsSize(ss: readonly string[]): number {
  let n = 0;
  for (let i = 0; i < ss.length; i++) n += stringField(ss[i] as string);
  return n;
}
function valueSize(v: ProtoValue): number {
  let n = 0;
  if (v.nullValue != null) n += 1 + int32Size(typeof v.nullValue === 'number' ? v.nullValue : 0);
  if (v.numberValue != null) n += 9;
  if (v.stringValue != null) n += stringField(v.stringValue);
  if (v.boolValue != null) n += 2;
  if (v.structValue != null) n += lenField(structSize(v.structValue));
  if (v.listValue != null) n += lenField(listSize(v.listValue));
  return n;
}
function listSize(l: { readonly values?: readonly ProtoValue[] }): number {
  let n = 0;
  for (const v of l.values ?? []) n += lenField(valueSize(v));
  return n;
}
function entrySize(key: string, v: ProtoValue): number {
  return stringField(key) + lenField(valueSize(v));
}
function structSize(s: ProtoStruct): number {
  let n = 0;
  const fields = s.fields;
  if (fields != null) for (const k in fields) if (Object.hasOwn(fields, k)) n += lenField(entrySize(k, fields[k] as ProtoValue));
  return n;
}
/** A JSON value's size as a google.protobuf.Value (what toProtoStruct makes of it). */
function jsonValueSize(v: JsonValue): number {
  if (v === null) return 2; // null_value: 0
  if (typeof v === 'string') return stringField(v);
  if (typeof v === 'number') return 9;
  if (typeof v === 'boolean') return 2;
  if (Array.isArray(v)) return lenField(jsonListSize(v));
  return lenField(jsonStructSize(v));
}
function jsonListSize(l: readonly JsonValue[]): number {
  let n = 0;
  for (let i = 0; i < l.length; i++) n += lenField(jsonValueSize(l[i] as JsonValue));
  return n;
}
function jsonStructSize(o: Readonly<Record<string, JsonValue | undefined>>): number {
  let n = 0;
  for (const k in o) {
    const v = o[k];
    if (v === undefined || !Object.hasOwn(o, k)) continue;
    const cached = typeof v === 'string' ? cachedEntry(k, v) : undefined;
    n += cached !== undefined ? cached.length : lenField(stringField(k) + lenField(jsonValueSize(v)));
  }
  return n;
}

/**
 * key -> short string value -> a Struct FieldsEntry (tag, length and message) of the dynamic
 * metadata, encoded once and copied after (src/core/encoded-pairs.ts, 64 keys). Header values
 * (provider credentials) are never kept here.
 */
const entries = new EncodedPairs(64);

/** The encoded entry of a string value: kept, or made and kept within the bounds; else undefined. */
function cachedEntry(key: string, value: string): Buffer | undefined {
  const values = entries.values(key, value);
  if (values === undefined) return undefined;
  const hit = values.get(value);
  if (hit !== undefined || !hasRoom(values)) return hit;
  const valueLen = stringField(value);
  const entryLen = stringField(key) + lenField(valueLen);
  const out = new Out(lenField(entryLen));
  out.open(1, entryLen);
  out.string(1, key);
  out.open(2, valueLen);
  out.string(3, value);
  values.set(value, out.buf);
  return out.buf;
}
/** The size of a Struct, either form. */
function anyStructSize(s: ProtoStruct): number {
  return s instanceof JsonStruct ? jsonStructSize(s.json) : structSize(s);
}

function statusSize(s: CheckResponse['status']): number {
  return (s.code != null ? 1 + int32Size(s.code) : 0) + (s.message != null ? stringField(s.message) : 0);
}
function deniedSize(d: NonNullable<CheckResponse['denied_response']>): number {
  return lenField(1 + int32Size(d.status.code)) + headersSize(d.headers) + (d.body != null ? stringField(d.body) : 0);
}
function okSize(o: NonNullable<CheckResponse['ok_response']>): number {
  return headersSize(o.headers) + stringsSize(o.headers_to_remove) + headersSize(o.response_headers_to_add) + stringsSize(o.query_parameters_to_remove ?? []);
}

/** Writes into one Buffer, front to back. */
class Out {
  readonly buf: Buffer;
  pos = 0;
  constructor(size: number) {
    this.buf = Buffer.allocUnsafe(size);
  }
  varint(n: number): void {
    let v = n >>> 0;
    while (v > 0x7f) {
      this.buf[this.pos++] = (v & 0x7f) | 0x80;
      v >>>= 7;
    }
    this.buf[this.pos++] = v;
  }
  int32(n: number): void {
    if (n >= 0) {
      this.varint(n);
      return;
    }
    // Negative: the two's complement as a 64-bit varint (ten bytes), as protobuf writes it.
    let lo = n >>> 0;
    let hi = 0xffffffff;
    for (let i = 0; i < 9; i++) {
      this.buf[this.pos++] = (lo & 0x7f) | 0x80;
      lo = ((lo >>> 7) | (hi << 25)) >>> 0;
      hi >>>= 7;
    }
    this.buf[this.pos++] = 1;
  }
  string(field: number, s: string): void {
    const len = Buffer.byteLength(s);
    this.buf[this.pos++] = tag(field, LEN);
    this.varint(len);
    this.pos += this.buf.write(s, this.pos, len, 'utf8');
  }
  /** Bytes already encoded. */
  raw(b: Buffer): void {
    this.pos = copyBytes(this.buf, this.pos, b);
  }
  /** The tag and length of a nested message; its fields follow. */
  open(field: number, len: number): void {
    this.buf[this.pos++] = tag(field, LEN);
    this.varint(len);
  }
  header(field: number, h: HeaderValueOption): void {
    this.open(field, headerSize(h));
    this.open(1, stringField(h.header.key) + stringField(h.header.value));
    this.string(1, h.header.key);
    this.string(2, h.header.value);
    this.buf[this.pos++] = tag(3, VARINT);
    this.int32(h.append_action);
  }
  value(v: ProtoValue): void {
    if (v.nullValue != null) {
      this.buf[this.pos++] = tag(1, VARINT);
      this.int32(typeof v.nullValue === 'number' ? v.nullValue : 0);
    }
    if (v.numberValue != null) {
      this.buf[this.pos++] = tag(2, FIXED64);
      this.pos = this.buf.writeDoubleLE(v.numberValue, this.pos);
    }
    if (v.stringValue != null) this.string(3, v.stringValue);
    if (v.boolValue != null) {
      this.buf[this.pos++] = tag(4, VARINT);
      this.buf[this.pos++] = v.boolValue ? 1 : 0;
    }
    if (v.structValue != null) {
      this.open(5, structSize(v.structValue));
      this.struct(v.structValue);
    }
    if (v.listValue != null) {
      this.open(6, listSize(v.listValue));
      for (const x of v.listValue.values ?? []) {
        this.open(1, valueSize(x));
        this.value(x);
      }
    }
  }
  jsonValue(v: JsonValue): void {
    if (v === null) {
      this.buf[this.pos++] = tag(1, VARINT);
      this.buf[this.pos++] = 0;
    } else if (typeof v === 'string') this.string(3, v);
    else if (typeof v === 'number') {
      this.buf[this.pos++] = tag(2, FIXED64);
      this.pos = this.buf.writeDoubleLE(v, this.pos);
    } else if (typeof v === 'boolean') {
      this.buf[this.pos++] = tag(4, VARINT);
      this.buf[this.pos++] = v ? 1 : 0;
    } else if (Array.isArray(v)) {
      this.open(6, jsonListSize(v));
      for (const x of v) {
        this.open(1, jsonValueSize(x));
        this.jsonValue(x);
      }
    } else {
      this.open(5, jsonStructSize(v));
      this.jsonStruct(v);
    }
  }
  jsonStruct(o: Readonly<Record<string, JsonValue | undefined>>): void {
    for (const k in o) {
      const v = o[k];
      if (v === undefined || !Object.hasOwn(o, k)) continue;
      const cached = typeof v === 'string' ? cachedEntry(k, v) : undefined;
      if (cached !== undefined) {
        this.raw(cached);
        continue;
      }
      const valueLen = jsonValueSize(v);
      this.open(1, stringField(k) + lenField(valueLen));
      this.string(1, k);
      this.open(2, valueLen);
      this.jsonValue(v);
    }
  }
  anyStruct(s: ProtoStruct): void {
    if (s instanceof JsonStruct) this.jsonStruct(s.json);
    else this.struct(s);
  }
  struct(s: ProtoStruct): void {
    const fields = s.fields;
    if (fields == null) return;
    for (const k in fields) {
      if (!Object.hasOwn(fields, k)) continue;
      const v = fields[k] as ProtoValue;
      this.open(1, entrySize(k, v));
      this.string(1, k);
      this.open(2, valueSize(v));
      this.value(v);
    }
  }
}

export function encodeCheckResponse(r: CheckResponse): Buffer {
  const statusLen = statusSize(r.status);
  const denied = r.denied_response;
  const ok = r.ok_response;
  const meta = r.dynamic_metadata;
  const size =
    lenField(statusLen) + (denied != null ? lenField(deniedSize(denied)) : 0) + (ok != null ? lenField(okSize(ok)) : 0) + (meta != null ? lenField(anyStructSize(meta)) : 0);
  const out = new Out(size);
  out.open(1, statusLen);
  if (r.status.code != null) {
    out.buf[out.pos++] = tag(1, VARINT);
    out.int32(r.status.code);
  }
  if (r.status.message != null) out.string(2, r.status.message);
  if (denied != null) {
    out.open(2, deniedSize(denied));
    out.open(1, 1 + int32Size(denied.status.code));
    out.buf[out.pos++] = tag(1, VARINT);
    out.int32(denied.status.code);
    for (let i = 0; i < denied.headers.length; i++) out.header(2, denied.headers[i] as HeaderValueOption);
    if (denied.body != null) out.string(3, denied.body);
  }
  if (ok != null) {
    out.open(3, okSize(ok));
    for (let i = 0; i < ok.headers.length; i++) out.header(2, ok.headers[i] as HeaderValueOption);
    for (let i = 0; i < ok.headers_to_remove.length; i++) out.string(5, ok.headers_to_remove[i] as string);
    for (let i = 0; i < ok.response_headers_to_add.length; i++) out.header(6, ok.response_headers_to_add[i] as HeaderValueOption);
    const query = ok.query_parameters_to_remove;
    if (query !== undefined) for (let i = 0; i < query.length; i++) out.string(8, query[i] as string);
  }
  if (meta != null) {
    out.open(4, anyStructSize(meta));
    out.anyStruct(meta);
  }
  if (out.pos !== size) throw new Error(`CheckResponse encoding wrote ${out.pos} of ${size} bytes`);
  return out.buf;
}
